/**
 * Fault injection for the fault tests: `CASSANDRA_GUEST_AGENT_FAILPOINT`
 * names the one point that misbehaves in this process, so a test can make the
 * agent do what a crash or a bug would, through its real code paths. Unset in
 * production; every point is named in the tests that use it.
 */
export function failpointActive(name: string): boolean {
  return process.env.CASSANDRA_GUEST_AGENT_FAILPOINT === name;
}
