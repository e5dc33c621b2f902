// Jest's node environment, plus Node's own require for the sandbox (jest.native-esm.js): this file
// runs outside the sandbox, so its `require` is Node's, which loads an ES module (require(esm)).
const { TestEnvironment } = require('jest-environment-node');

module.exports = class ProbefleetEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.__probefleetNativeRequire = (id) => require(id);
  }
};
