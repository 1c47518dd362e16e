// Do-nothing CreateAuthChallenge: a fixed code, no email. The emulator's floor.
export const handler = async (event) => {
  event.response.publicChallengeParameters = { hint: "000000" };
  event.response.privateChallengeParameters = { code: "000000" };
  event.response.challengeMetadata = "CODE-000000";
  // One line per call, like the Rust triggers (MiniStack waits for a function's output).
  console.log(event.triggerSource);
  return event;
};
