// VerifyAuthChallengeResponse: the answer must equal the stored code.
export const handler = async (event) => {
  event.response.answerCorrect =
    String(event.request.challengeAnswer ?? "").trim() === event.request.privateChallengeParameters.code;
  return event;
};
