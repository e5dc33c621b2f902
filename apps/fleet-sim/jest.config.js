// The CLI's test publishes to the real broker and reads the topic back: seconds, not milliseconds.
module.exports = require('../../jest.preset.js')(__dirname, { testTimeout: 180000 });
