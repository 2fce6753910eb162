import { describe, expect, it } from "vitest";
import { contextFromArgs, effectiveKubeContext, kubeconfigPaths } from "../../src/core/kube.js";

describe("kubeconfigPaths (kubectl loading rules)", () => {
  const home = "/home/ann";
  it.each([
    ["default file", [], {}, ["/home/ann/.kube/config"], false],
    ["KUBECONFIG list in order", [], { KUBECONFIG: "/a/staging.yaml:/home/ann/.kube/config" }, ["/a/staging.yaml", "/home/ann/.kube/config"], false],
    ["empty entries dropped", [], { KUBECONFIG: ":/a::/b:" }, ["/a", "/b"], false],
    ["duplicates dropped, first kept", [], { KUBECONFIG: "/b:/a:/b" }, ["/b", "/a"], false],
    ["set but empty KUBECONFIG means unset", [], { KUBECONFIG: "" }, ["/home/ann/.kube/config"], false],
    ["KUBECONFIG of only separators loads nothing", [], { KUBECONFIG: "::" }, [], false],
    ["E7: --kubeconfig=F disables merging", ["get", "pods", "--kubeconfig=/x/prod.yaml"], { KUBECONFIG: "/a:/b" }, ["/x/prod.yaml"], true],
    ["E7: --kubeconfig F disables merging", ["--kubeconfig", "/x/prod.yaml", "get", "pods"], { KUBECONFIG: "/a" }, ["/x/prod.yaml"], true],
    ["the last --kubeconfig wins, as in kubectl", ["--kubeconfig=/one", "--kubeconfig", "/two"], {}, ["/two"], true],
    ["empty --kubeconfig= counts as not given", ["--kubeconfig="], { KUBECONFIG: "/a" }, ["/a"], false],
    ["dangling --kubeconfig counts as not given", ["get", "--kubeconfig"], {}, ["/home/ann/.kube/config"], false],
  ] as const)("%s", (_name, args, env, paths, explicit) => {
    expect(kubeconfigPaths([...args], env, home)).toEqual({ paths: [...paths], explicit });
  });

  it("trailing slashes on HOME do not double up", () => {
    expect(kubeconfigPaths([], {}, "/home/ann/").paths).toEqual(["/home/ann/.kube/config"]);
  });
});

describe("contextFromArgs", () => {
  it.each([
    [["--context=prod-1"], "prod-1"],
    [["get", "--context", "prod-1", "pods"], "prod-1"],
    [["--context=a", "--context=b"], "b"],
    [["--context="], undefined],
    [["--context"], undefined],
    [["--contexts=x"], undefined],
    [[], undefined],
  ] as const)("%j → %s", (args, ctx) => {
    expect(contextFromArgs([...args])).toBe(ctx);
  });
});

describe("effectiveKubeContext", () => {
  it("E8: the first file that sets current-context wins (kubectl), not the last", () => {
    const k = effectiveKubeContext([], [
      { path: "staging.yaml", currentContext: "staging-eu" },
      { path: "/home/ann/.kube/config", currentContext: "prod-eu" },
    ]);
    expect(k).toEqual({ context: "staging-eu", source: "staging.yaml" });
  });

  it("E8: files without a current-context are passed over", () => {
    const k = effectiveKubeContext([], [{ path: "clusters.yaml" }, { path: "b", currentContext: "" }, { path: "c", currentContext: "prod-eu" }]);
    expect(k).toEqual({ context: "prod-eu", source: "c" });
  });

  it("E7: --context in args beats every file", () => {
    const k = effectiveKubeContext(["--context", "prod-eu"], [{ path: "a", currentContext: "staging" }]);
    expect(k).toEqual({ context: "prod-eu", source: "--context" });
  });

  it("no context anywhere", () => {
    expect(effectiveKubeContext([], [])).toEqual({ source: "none" });
  });

  it("a broken file is a problem even when --context is given (kubectl would fail)", () => {
    const k = effectiveKubeContext(["--context=prod-eu"], [{ path: "/k/bad.yaml", error: "invalid YAML: x" }]);
    expect(k.context).toBe("prod-eu");
    expect(k.problem).toMatch(/\/k\/bad\.yaml: invalid YAML: x/);
  });

  it("a broken earlier file is never skipped in favour of a later one", () => {
    const k = effectiveKubeContext([], [{ path: "a", error: "cannot read (EACCES)" }, { path: "b", currentContext: "staging" }]);
    expect(k.problem).toContain("a: cannot read (EACCES)");
  });
});
