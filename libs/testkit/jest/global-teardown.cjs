module.exports = require('./run-bounds.cjs').globalTeardown;
