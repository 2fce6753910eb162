/**
 * The AWS profile a command will use, read as each AWS client reads it. They disagree:
 * - the AWS CLI v1 and boto3 (botocore's session variables) read AWS_DEFAULT_PROFILE before AWS_PROFILE;
 * - the AWS CLI v2 reads AWS_PROFILE before AWS_DEFAULT_PROFILE;
 * - the other SDKs (JavaScript, Go, Java, …) read AWS_PROFILE only;
 * - `aws … --profile P` (or `--profile=P`, anywhere in its arguments; the last one wins) beats both.
 * So for `aws` with `--profile` the profile is that flag's; otherwise every variable that is set is a
 * profile some client will use, and guard holds each of them against the policy (they must agree).
 */

export interface ProfileReading {
  value: string;
  /** Where it came from: "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "--profile". */
  via: string;
}

export const AWS_PROFILE_VARIABLES = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] as const;

export function awsProfileReadings(
  programNames: readonly string[],
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ProfileReading[] {
  if (programNames.includes("aws")) {
    let flag: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as string;
      if (a === "--profile") flag = args[++i] ?? "";
      else if (a.startsWith("--profile=")) flag = a.slice("--profile=".length);
    }
    if (flag !== undefined) return [{ value: flag, via: "--profile" }];
  }
  return AWS_PROFILE_VARIABLES.flatMap((v) => {
    const value = env[v];
    return value === undefined || value === "" ? [] : [{ value, via: v }];
  });
}
