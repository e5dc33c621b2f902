const preset = require('../../jest.preset.js')(__dirname);
// The CLI's test publishes to the real broker and reads the topic back: seconds, not milliseconds.
module.exports = { ...preset, testTimeout: 180000 };
