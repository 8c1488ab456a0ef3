#!/usr/bin/env node
// Runs the edge authentication function that `sparc-cdn render` packages against
// CloudFront viewer-request events: valid JWTs pass, everything else gets 401.
//
//   node check_edge_auth.js SPARC_CDN
'use strict';
const assert = require('assert');
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const tool = process.argv[2];
if (!tool) {
  console.error('usage: check_edge_auth.js SPARC_CDN');
  process.exit(2);
}

const keys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKeys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = keys.publicKey.export({ type: 'spki', format: 'pem' });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparc-edge-auth-'));
const vars = {
  environment: 'test',
  api_gateway_domain: 'api.example.com',
  video_streaming_domain: 'video.example.com',
  cdn_domain_name: 'cdn.example.com',
  jwt_public_key: pem,
  field_encryption_public_key: pem,
  sns_alert_topic_arn: 'arn:aws:sns:us-east-1:123456789012:alerts',
  jwt_issuer: 'https://auth.example.com',
};
fs.writeFileSync(path.join(dir, 'vars.json'), JSON.stringify(vars));
childProcess.execFileSync(tool, ['render', '--vars', path.join(dir, 'vars.json'), '--out', path.join(dir, 'out')]);
const { handler } = require(path.join(dir, 'out', 'edge-auth', 'index.js'));

const b64url = (data) => Buffer.from(data).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
function jwt(claims, { key = keys.privateKey, alg = 'RS256' } = {}) {
  const head = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const signature = crypto.sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(signature)}`;
}
function event({ uri = '/api/v1/videos', method = 'GET', token, query = '' } = {}) {
  const headers = {};
  if (token) headers.authorization = [{ key: 'Authorization', value: `Bearer ${token}` }];
  return { Records: [{ cf: { request: { uri, method, querystring: query, headers } } }] };
}

const now = Math.floor(Date.now() / 1000);
const good = { sub: 'user-1', iss: 'https://auth.example.com', exp: now + 600 };
const cases = [
  ['valid token', event({ token: jwt(good) }), true],
  ['token in the query string', event({ uri: '/ws/live', query: `token=${jwt(good)}` }), true],
  ['no token', event(), false],
  ['expired', event({ token: jwt({ ...good, exp: now - 3600 }) }), false],
  ['no expiry', event({ token: jwt({ sub: 'user-1', iss: good.iss }) }), false],
  ['not yet valid', event({ token: jwt({ ...good, nbf: now + 3600 }) }), false],
  ['wrong issuer', event({ token: jwt({ ...good, iss: 'https://evil.example.com' }) }), false],
  ['signed by another key', event({ token: jwt(good, { key: otherKeys.privateKey }) }), false],
  ['alg none', event({ token: jwt(good, { alg: 'none' }).split('.').slice(0, 2).join('.') + '.' }), false],
  ['garbage', event({ token: 'a.b.c' }), false],
  ['CORS preflight', event({ method: 'OPTIONS' }), true],
  ['public path', event({ uri: '/api/auth/login' }), true],
  ['public path prefix only', event({ uri: '/api/authx' }), false],
];

(async () => {
  let failures = 0;
  for (const [label, input, allowed] of cases) {
    const result = await handler(input);
    const passed = result === input.Records[0].cf.request;
    try {
      assert.strictEqual(passed, allowed);
      if (!allowed) assert.strictEqual(result.status, '401');
    } catch (error) {
      failures += 1;
      console.log(`${label}: expected ${allowed ? 'pass' : '401'}, got ${JSON.stringify(result)}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`${cases.length} case(s), ${failures} failure(s)`);
  process.exit(failures ? 1 : 0);
})();
