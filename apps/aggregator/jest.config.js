const path = require('node:path');
const preset = require('../../jest.preset.js')(__dirname);
module.exports = {
  ...preset,
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.jest.json') }] },
};
