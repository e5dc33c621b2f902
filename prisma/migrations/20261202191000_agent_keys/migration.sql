-- Each host's Ed25519 public key, against which its Kafka messages' signatures are checked
-- (AGENT_IDENTITY=tofu|strict): pinned on first use (tofu) or enrolled through the API (strict, and
-- rotations in either mode). The key is the raw 32 bytes in base64url, as the sig-key header has it.
CREATE TABLE agent_keys (
  host        text PRIMARY KEY,
  public_key  text NOT NULL CHECK (public_key ~ '^[A-Za-z0-9_-]{43}$'),
  source      text NOT NULL CHECK (source IN ('tofu', 'enrolled')),
  created_at  timestamptz(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at  timestamptz(6) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
