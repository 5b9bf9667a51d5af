/** @type {import('jest').Config} */
module.exports = { preset: '@synood/testing' };
