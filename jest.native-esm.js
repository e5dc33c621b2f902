// For Jest only: @platformatic/kafka is ESM-only, and Jest's module registry cannot require() an ES
// module (without --experimental-vm-modules), so the moduleNameMapper sends it here, to Node's own
// require(esm) (jest.environment.js). Outside Jest the plain require() in libs/kafka does that, and
// esbuild bundles it into the agent's single executable.
module.exports = globalThis.__probefleetNativeRequire('@platformatic/kafka');
