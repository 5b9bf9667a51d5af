#!/usr/bin/env node
'use strict';
// Committed launcher so that `npm ci` can link the bin before `npm run build` produces dist/.
require('../dist/main.js');
