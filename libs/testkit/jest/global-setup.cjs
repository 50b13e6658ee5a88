module.exports = require('./run-bounds.cjs').globalSetup;
