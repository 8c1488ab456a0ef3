#!/usr/bin/env node
// Runs the edge authentication function that `sparc-cdn render` packages against CloudFront
// viewer-request events, with keys generated for this run: valid JWTs pass, every malformed or
// wrongly signed token gets 401, unsafe paths get 400, CORS preflights get 204 at the edge
// (any other OPTIONS needs a token), nothing throws.
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

const rsa = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pemOf = (pair) => pair.publicKey.export({ type: 'spki', format: 'pem' });
const keys = rsa(); // the one-key form (jwt_public_key)
const oldKey = rsa(); // key set, kid "2025-01"
const newKey = rsa(); // key set, kid "2025-06"
const otherKeys = rsa(); // never configured

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparc-edge-auth-'));
const baseVars = {
  environment: 'test',
  api_gateway_domain: 'api.example.com',
  video_streaming_domain: 'video.example.com',
  cdn_domain_name: 'cdn.example.com',
  field_encryption_public_key: pemOf(keys),
  sns_alert_topic_arn: 'arn:aws:sns:us-east-1:123456789012:alerts',
  jwt_issuer: 'https://auth.example.com',
  jwt_audience: 'sparc-api',
};
let renders = 0;
function renderHandler(vars) {
  const out = path.join(dir, `out${renders}`);
  const varsPath = path.join(dir, `vars${renders}.json`);
  renders += 1;
  fs.writeFileSync(varsPath, JSON.stringify({ ...baseVars, ...vars }));
  childProcess.execFileSync(tool, ['render', '--format', 'cloudformation', '--vars', varsPath, '--out', out]);
  return { out, handler: require(path.join(out, 'edge-auth', 'index.js')).handler };
}
const appOrigin = 'https://app.example.com';
const single = renderHandler({ jwt_public_key: pemOf(keys), cors_allowed_origins: [appOrigin] });
const globs = renderHandler({
  jwt_public_key: pemOf(keys),
  public_paths: ['/api/*/*/*/health', '/api/v?/status', '/api/*a*a*a*a*a*a*b', '/api/exact', '/api/file.json'],
});
const rotated = renderHandler({ jwt_public_keys: { '2025-01': pemOf(oldKey), '2025-06': pemOf(newKey) } });

const b64url = (data) => Buffer.from(data).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
function jwt(claims, { key = keys.privateKey, alg = 'RS256', header } = {}) {
  const head = b64url(header !== undefined ? header : JSON.stringify({ alg, typ: 'JWT' }));
  const body = b64url(typeof claims === 'string' ? claims : JSON.stringify(claims));
  const signature = crypto.sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(signature)}`;
}
function hs256WithPublicKey(claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const mac = crypto.createHmac('sha256', pemOf(keys)).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(mac)}`;
}
function event({ uri = '/api/v1/videos', method = 'GET', token, query = '', headers } = {}) {
  const h = headers || {};
  if (token !== undefined) h.authorization = [{ key: 'Authorization', value: `Bearer ${token}` }];
  return { Records: [{ cf: { request: { uri, method, querystring: query, headers: h } } }] };
}
function preflightEvent(origin, method, uri = '/api/v1/videos') {
  return event({
    uri,
    method: 'OPTIONS',
    headers: {
      origin: [{ key: 'Origin', value: origin }],
      'access-control-request-method': [{ key: 'Access-Control-Request-Method', value: method }],
      'access-control-request-headers': [{ key: 'Access-Control-Request-Headers', value: 'authorization' }],
    },
  });
}
function tamper(token) {
  const [h, c, s] = token.split('.');
  const claims = JSON.parse(Buffer.from(c, 'base64').toString());
  claims.sub = 'admin';
  return `${h}.${b64url(JSON.stringify(claims))}.${s}`;
}

const now = Math.floor(Date.now() / 1000);
const good = { sub: 'user-1', iss: 'https://auth.example.com', aud: 'sparc-api', exp: now + 600 };
const withKid = (kid, key, claims = good) =>
  jwt(claims, { key, header: JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }) });

const PASS = 'pass';
// [label, handler, event, expected: PASS or a status]
const cases = [
  ['valid token', single, event({ token: jwt(good) }), PASS],
  ['token in the query string', single, event({ uri: '/ws/live', query: `token=${jwt(good)}` }), PASS],
  ['audience in an array', single, event({ token: jwt({ ...good, aud: ['other', 'sparc-api'] }) }), PASS],
  ['no token', single, event(), '401'],
  ['expired', single, event({ token: jwt({ ...good, exp: now - 3600 }) }), '401'],
  ['no expiry', single, event({ token: jwt({ sub: 'u', iss: good.iss, aud: good.aud }) }), '401'],
  ['expiry not a number', single, event({ token: jwt({ ...good, exp: String(now + 600) }) }), '401'],
  ['not yet valid', single, event({ token: jwt({ ...good, nbf: now + 3600 }) }), '401'],
  ['wrong issuer', single, event({ token: jwt({ ...good, iss: 'https://evil.example.com' }) }), '401'],
  ['wrong audience', single, event({ token: jwt({ ...good, aud: 'other-api' }) }), '401'],
  ['no audience', single, event({ token: jwt({ ...good, aud: undefined }) }), '401'],
  ['tampered claims', single, event({ token: tamper(jwt(good)) }), '401'],
  ['signed by another key', single, event({ token: jwt(good, { key: otherKeys.privateKey }) }), '401'],
  ['alg none', single, event({ token: jwt(good, { alg: 'none' }).split('.').slice(0, 2).join('.') + '.' }), '401'],
  ['alg none with a signature', single, event({ token: jwt(good, { alg: 'none' }) }), '401'],
  ['HS256 keyed with the public key', single, event({ token: hs256WithPublicKey(good) }), '401'],
  ['header is JSON null', single, event({ token: jwt(good, { header: 'null' }) }), '401'],
  ['header is an array', single, event({ token: jwt(good, { header: '["RS256"]' }) }), '401'],
  ['header is a number', single, event({ token: jwt(good, { header: '42' }) }), '401'],
  ['claims are JSON null', single, event({ token: jwt('null') }), '401'],
  ['claims are not JSON', single, event({ token: jwt('{"exp":') }), '401'],
  ['crit header', single, event({ token: jwt(good, { header: JSON.stringify({ alg: 'RS256', crit: ['x'], x: 1 }) }) }), '401'],
  ['garbage', single, event({ token: 'a.b.c' }), '401'],
  ['not base64url', single, event({ token: jwt(good).replace(/\./, '!.') }), '401'],
  ['two parts', single, event({ token: jwt(good).split('.').slice(0, 2).join('.') }), '401'],
  ['empty signature', single, event({ token: jwt(good).split('.').slice(0, 2).join('.') + '.' }), '401'],
  ['huge token', single, event({ token: 'a'.repeat(100000) }), '401'],
  ['authorization header not an array', single, event({ headers: { authorization: 'Bearer x' } }), '401'],
  ['authorization value missing', single, event({ headers: { authorization: [{}] } }), '401'],
  ['not Bearer', single, event({ headers: { authorization: [{ key: 'Authorization', value: `Basic ${jwt(good)}` }] } }), '401'],
  ['event without records', single, {}, '401'],
  ['request without headers', single, { Records: [{ cf: { request: { uri: '/api/x', method: 'GET' } } }] }, '401'],
  // Only a CORS preflight skips the token, and it is answered at the edge, not forwarded.
  ['CORS preflight', single, preflightEvent(appOrigin, 'POST'), '204'],
  ['CORS preflight from another origin', single, preflightEvent('https://evil.example.com', 'POST'), '204'],
  ['CORS preflight on a public path', single, preflightEvent(appOrigin, 'GET', '/api/health'), '204'],
  ['OPTIONS without preflight headers', single, event({ method: 'OPTIONS' }), '401'],
  ['OPTIONS with Origin only', single, event({ method: 'OPTIONS', headers: { origin: [{ key: 'Origin', value: appOrigin }] } }), '401'],
  ['OPTIONS with Access-Control-Request-Method only', single,
    event({ method: 'OPTIONS', headers: { 'access-control-request-method': [{ key: 'Access-Control-Request-Method', value: 'GET' }] } }), '401'],
  ['OPTIONS with a malformed Origin header', single,
    event({ method: 'OPTIONS', headers: { origin: 'x', 'access-control-request-method': [{ value: 'GET' }] } }), '401'],
  ['OPTIONS with a valid token', single, event({ method: 'OPTIONS', token: jwt(good) }), PASS],
  ['OPTIONS on a public path', single, event({ method: 'OPTIONS', uri: '/api/health' }), PASS],
  ['CORS preflight with dot segments', single, preflightEvent(appOrigin, 'GET', '/api/public/../admin'), '400'],
  ['public path', single, event({ uri: '/api/auth/login' }), PASS],
  ['public path, encoded letters', single, event({ uri: '/api/publi%63/feed' }), PASS],
  ['public path prefix only', single, event({ uri: '/api/authx' }), '401'],
  ['dot segments', single, event({ uri: '/api/public/../admin' }), '400'],
  ['single dot segment', single, event({ uri: '/api/public/./x' }), '400'],
  ['encoded dot segments', single, event({ uri: '/api/public/%2e%2e/admin' }), '400'],
  ['mixed-case encoded dots', single, event({ uri: '/api/public/%2E./admin' }), '400'],
  ['double-encoded dots', single, event({ uri: '/api/public/%252e%252e/admin' }), '400'],
  ['encoded slash', single, event({ uri: '/api/public/..%2fadmin' }), '400'],
  ['backslash', single, event({ uri: '/api/public/..\\admin' }), '400'],
  ['path parameter dot segment', single, event({ uri: '/api/public/..;/admin' }), '400'],
  ['malformed percent-encoding', single, event({ uri: '/api/public/%zz' }), '400'],
  ['dot segments even with a token', single, event({ uri: '/video/../api/x', token: jwt(good) }), '400'],
  ['dots inside a name are fine', single, event({ uri: '/video/a..b/seg.ts', token: jwt(good) }), PASS],
  // Public path patterns: `*` is any run of characters (slashes too), `?` one character.
  ['glob: stars', globs, event({ uri: '/api/a/b/c/health' }), PASS],
  ['glob: star spans slashes', globs, event({ uri: '/api/a/b/c/d/e/health' }), PASS],
  ['glob: too few segments', globs, event({ uri: '/api/a/health' }), '401'],
  ['glob: suffix must match', globs, event({ uri: '/api/a/b/c/healthz' }), '401'],
  ['glob: question mark', globs, event({ uri: '/api/v2/status' }), PASS],
  ['glob: question mark is one character', globs, event({ uri: '/api/v10/status' }), '401'],
  ['glob: exact', globs, event({ uri: '/api/exact' }), PASS],
  ['glob: exact, longer', globs, event({ uri: '/api/exact/x' }), '401'],
  ['glob: a dot is a dot', globs, event({ uri: '/api/file.json' }), PASS],
  ['glob: a dot is not any character', globs, event({ uri: '/api/fileXjson' }), '401'],
  ['glob: many stars', globs, event({ uri: '/api/xaxaxaxaxaxayb' }), PASS],
  // Key rotation: the key is chosen by kid.
  ['rotated: new key, its kid', rotated, event({ token: withKid('2025-06', newKey.privateKey) }), PASS],
  ['rotated: old key, its kid', rotated, event({ token: withKid('2025-01', oldKey.privateKey) }), PASS],
  ['rotated: new key, old kid', rotated, event({ token: withKid('2025-01', newKey.privateKey) }), '401'],
  ['rotated: unknown kid', rotated, event({ token: withKid('2024-01', newKey.privateKey) }), '401'],
  ['rotated: no kid', rotated, event({ token: jwt(good, { key: newKey.privateKey }) }), '401'],
  ['rotated: kid not a string', rotated, event({ token: withKid(7, newKey.privateKey) }), '401'],
  ['single key: any kid', single, event({ token: withKid('whatever', keys.privateKey) }), PASS],
];

(async () => {
  let failures = 0;
  for (const [label, { handler }, input, expected] of cases) {
    let result;
    try {
      result = await handler(input);
    } catch (error) {
      result = `threw ${error}`;
    }
    const request = input.Records && input.Records[0] && input.Records[0].cf.request;
    const got = result === request ? PASS : result && result.status;
    try {
      assert.strictEqual(got, expected);
    } catch (error) {
      failures += 1;
      console.log(`${label}: expected ${expected}, got ${JSON.stringify(result)}`);
    }
  }

  // What a preflight answer says: the allowed origin gets the Access-Control-Allow-* headers,
  // any other origin or method gets none (the browser then refuses the request).
  const headerOf = (result, name) => result.headers[name] && result.headers[name][0].value;
  const preflightChecks = [
    ['allowed origin', preflightEvent(appOrigin, 'DELETE'), (r) => {
      assert.strictEqual(headerOf(r, 'access-control-allow-origin'), appOrigin);
      assert.match(headerOf(r, 'access-control-allow-methods'), /\bDELETE\b/);
      assert.match(headerOf(r, 'access-control-allow-headers'), /\bAuthorization\b/);
      assert.strictEqual(headerOf(r, 'access-control-max-age'), '600');
      assert.match(headerOf(r, 'vary'), /\bOrigin\b/);
    }],
    ['other origin', preflightEvent('https://evil.example.com', 'GET'), (r) => {
      assert.strictEqual(r.headers['access-control-allow-origin'], undefined);
    }],
    ['method not allowed', preflightEvent(appOrigin, 'TRACE'), (r) => {
      assert.strictEqual(r.headers['access-control-allow-origin'], undefined);
    }],
    ['no origins configured', preflightEvent(appOrigin, 'GET'), (r) => {
      assert.strictEqual(r.headers['access-control-allow-origin'], undefined);
    }, rotated],
  ];
  for (const [label, input, check, { handler } = single] of preflightChecks) {
    try {
      const result = await handler(input);
      assert.strictEqual(result.status, '204');
      check(result);
    } catch (error) {
      failures += 1;
      console.log(`preflight answer, ${label}: ${error}`);
    }
  }

  // Paths crafted against the public path patterns are answered at once (a backtracking
  // matcher took seconds on the first of these). The bound is generous: the matcher needs
  // well under a millisecond.
  const slow = [
    ['segments against /api/*/*/*/health', '/api/' + 'a/'.repeat(2000)],
    ['a run of one letter against /api/*a*a*a*a*a*a*b', '/api/' + 'a'.repeat(8000)],
  ];
  for (const [label, uri] of slow) {
    const started = process.hrtime.bigint();
    const result = await globs.handler(event({ uri }));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== '401' || ms > 1000) {
      failures += 1;
      console.log(`pathological path, ${label}: status ${result.status} after ${ms.toFixed(0)} ms`);
    }
  }

  // A package whose key does not parse still loads, and denies instead of crashing.
  const broken = path.join(dir, 'broken');
  fs.cpSync(path.join(single.out, 'edge-auth'), broken, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(broken, 'config.json')));
  config.defaultPublicKey = '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n';
  fs.writeFileSync(path.join(broken, 'config.json'), JSON.stringify(config));
  try {
    const { handler } = require(path.join(broken, 'index.js'));
    const result = await handler(event({ token: jwt(good) }));
    assert.strictEqual(result.status, '401');
  } catch (error) {
    failures += 1;
    console.log(`malformed PEM in the package: ${error}`);
  }

  // The runtime Lambda@Edge runs it on.
  const template = JSON.parse(fs.readFileSync(path.join(single.out, 'template.json')));
  const runtime = template.Resources.EdgeAuthFunction.Properties.Runtime;
  const major = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!major || Number(major[1]) < 20) {
    failures += 1;
    console.log(`runtime ${runtime}: expected nodejs20.x or newer`);
  }

  fs.rmSync(dir, { recursive: true, force: true });
  const total = cases.length + preflightChecks.length + slow.length + 2;
  console.log(`${total} case(s), ${failures} failure(s)`);
  process.exit(failures ? 1 : 0);
})();
