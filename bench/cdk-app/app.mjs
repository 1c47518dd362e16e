// The stack `cargo xtask deploy` makes, as CDK writes it: for the bench's side-by-side
// deploy times only. The bench passes the stack's name, the account and the trigger zips'
// folder. (The Create zip here lacks the email templates our deploy adds beside bootstrap;
// the functions are deployed, not invoked.)
import * as cdk from "aws-cdk-lib";
import * as cognito from "aws-cdk-lib/aws-cognito";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as ses from "aws-cdk-lib/aws-ses";

const name = process.env.BENCH_STACK;
const zips = process.env.BENCH_ZIPS;
const account = process.env.BENCH_ACCOUNT;
if (!name || !zips || !account) {
  throw new Error("BENCH_STACK, BENCH_ZIPS and BENCH_ACCOUNT must be set (cargo xtask bench sets them)");
}

const app = new cdk.App();
const stack = new cdk.Stack(app, name, {
  env: { account, region: "us-east-1" },
  synthesizer: new cdk.DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
});

const role = new iam.Role(stack, "TriggerRole", {
  roleName: `${name}-triggers`,
  assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
});
role.addToPolicy(
  new iam.PolicyStatement({
    actions: ["ses:SendEmail"],
    resources: [`arn:aws:ses:us-east-1:${account}:identity/no-reply@${name}.example`],
  }),
);

const limits = new dynamodb.Table(stack, "Limits", {
  tableName: `${name}-limits`,
  partitionKey: { name: "pk", type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  timeToLiveAttribute: "expires_at",
  removalPolicy: cdk.RemovalPolicy.DESTROY,
});
limits.grant(role, "dynamodb:UpdateItem", "dynamodb:GetItem");

new ses.EmailIdentity(stack, "Sender", {
  identity: ses.Identity.email(`no-reply@${name}.example`),
});

const trigger = (id, binary, environment) =>
  new lambda.Function(stack, id, {
    functionName: `${name}-${binary}`,
    runtime: lambda.Runtime.PROVIDED_AL2023,
    architecture: lambda.Architecture.X86_64,
    handler: "bootstrap",
    code: lambda.Code.fromAsset(`${zips}/${binary}.zip`),
    memorySize: 128,
    timeout: cdk.Duration.seconds(5),
    role,
    environment,
  });

const limitSettings = {
  LIMITS_TABLE: limits.tableName,
  LIMITS_MAX_SENDS: "5",
  LIMITS_WINDOW_SECONDS: "3600",
  LIMITS_MAX_FAILURES: "10",
  LIMITS_LOCKOUT_SECONDS: "900",
};
const define = trigger("Define", "define-auth-challenge", { OTP_MAX_ATTEMPTS: "3", ...limitSettings });
const create = trigger("Create", "create-auth-challenge", {
  OTP_CODE_LENGTH: "6",
  OTP_TTL_SECONDS: "180",
  EMAIL_FROM: `no-reply@${name}.example`,
  LIMITS_TABLE: limits.tableName,
});
const verify = trigger("Verify", "verify-auth-challenge", { OTP_TTL_SECONDS: "180", ...limitSettings });

const pool = new cognito.UserPool(stack, "Pool", {
  userPoolName: name,
  signInAliases: { email: true },
  signInCaseSensitive: false,
  selfSignUpEnabled: false,
  accountRecovery: cognito.AccountRecovery.NONE,
  removalPolicy: cdk.RemovalPolicy.DESTROY,
  lambdaTriggers: {
    defineAuthChallenge: define,
    createAuthChallenge: create,
    verifyAuthChallengeResponse: verify,
  },
});

pool.addClient("Client", {
  userPoolClientName: `${name}-app`,
  authFlows: { custom: true },
  preventUserExistenceErrors: true,
  generateSecret: false,
});
