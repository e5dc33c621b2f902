-- Fleet policies (projection `policies`, from the control stream's policy.put / policy.deleted):
-- each policy's current version and spec; a deleted one keeps its row (spec NULL) so its version
-- goes on counting and the control topic's tombstone can be published again.
CREATE TABLE policies (
  name        text PRIMARY KEY,
  version     integer NOT NULL CHECK (version >= 1),
  spec        jsonb,
  deleted     boolean NOT NULL DEFAULT false,
  updated_at  timestamptz(6) NOT NULL
);

-- Per policy and host, the host's last report (policy.applied / policy.rejected / policy.removed).
CREATE TABLE policy_hosts (
  policy       text NOT NULL,
  host         text NOT NULL,
  version      integer NOT NULL,
  status       text NOT NULL CHECK (status IN ('applied', 'rejected', 'removed')),
  reason       text,
  line         text,
  kernel       text,
  definitions  jsonb,
  filters      jsonb,
  at           timestamptz(6) NOT NULL,
  PRIMARY KEY (policy, host)
);

-- The labels each agent declares (agent.started), which policy selectors match.
ALTER TABLE agents ADD COLUMN labels jsonb;
