// DefineAuthChallenge: challenge on an empty session, tokens after a right answer, failure
// after three wrong ones.
export const handler = async (event) => {
  const session = event.request.session ?? [];
  const last = session[session.length - 1];
  if (session.length === 0) {
    event.response.challengeName = "CUSTOM_CHALLENGE";
  } else if (last.challengeResult === true && !event.request.userNotFound) {
    event.response.issueTokens = true;
  } else if (session.length >= 3) {
    event.response.failAuthentication = true;
  } else {
    event.response.challengeName = "CUSTOM_CHALLENGE";
  }
  // One line per call, like the Rust triggers (MiniStack waits for a function's output).
  console.log(event.triggerSource);
  return event;
};
