// CreateAuthChallenge: a new six-digit code mailed through SES on the first round, the same
// code carried in the metadata afterwards.
import { randomInt } from "node:crypto";
import { SESv2Client, SendEmailCommand } from "@aws-sdk/client-sesv2";

const ses = new SESv2Client({});

export const handler = async (event) => {
  const previous = (event.request.session ?? []).at(-1)?.challengeMetadata;
  let code;
  if (previous && previous.startsWith("CODE-")) {
    code = previous.slice("CODE-".length);
  } else {
    code = String(randomInt(0, 1_000_000)).padStart(6, "0");
    const to = event.request.userAttributes.email;
    if (to) {
      await ses.send(
        new SendEmailCommand({
          FromEmailAddress: process.env.EMAIL_FROM,
          Destination: { ToAddresses: [to] },
          Content: {
            Simple: {
              Subject: { Data: "Your sign-in code" },
              Body: {
                Text: { Data: `Your sign-in code is ${code}` },
                Html: { Data: `<p>Your sign-in code is <b>${code}</b></p>` },
              },
            },
          },
        }),
      );
    }
  }
  event.response.publicChallengeParameters = { email: event.request.userAttributes.email ?? "" };
  event.response.privateChallengeParameters = { code };
  event.response.challengeMetadata = `CODE-${code}`;
  // One line per call, like the Rust triggers (MiniStack waits for a function's output).
  console.log(event.triggerSource);
  return event;
};
