// The newest version of each policy an agent has verified, puts and deletes alike (signed by the
// aggregator: libs/signature). A record older than it is a replay: someone who can write to the
// control topic re-sending a record the aggregator once signed (a policy since changed or deleted).
// The same version again is no replay: the aggregator re-publishes its whole set at every start.
export class PolicyVersions {
  private readonly newest = new Map<string, number>();

  /** Notes `version` of `name` and true; false (nothing noted) when it is older than the newest seen. */
  admit(name: string, version: number): boolean {
    const seen = this.newest.get(name);
    if (seen !== undefined && version < seen) return false;
    this.newest.set(name, version);
    return true;
  }

  newestOf(name: string): number | undefined {
    return this.newest.get(name);
  }
}
