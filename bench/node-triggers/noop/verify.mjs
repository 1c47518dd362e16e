// VerifyAuthChallengeResponse: the answer must equal the stored code.
export const handler = async (event) => {
  event.response.answerCorrect =
    String(event.request.challengeAnswer ?? "").trim() === event.request.privateChallengeParameters.code;
  // One line per call, like the Rust triggers (MiniStack waits for a function's output).
  console.log(event.triggerSource);
  return event;
};
