// A real local AT Protocol network (PLC directory, PDS, AppView) for the
// end-to-end Bluesky tests, started by tests/bluesky_network/conftest.py.
//
//   node network.mjs --pds-port 2583 --bsky-port 2584 --plc-port 2582 [--schema NAME]
//
// Ports and the schema may also come from PDS_PORT, BSKY_PORT, PLC_PORT and
// NETWORK_SCHEMA. DB_POSTGRES_URL and REDIS_HOST must be set (dev-env asserts
// them). When the network is up it prints exactly one JSON line on stdout:
//
//   {"ready":true,"pds":"http://localhost:2583","appview":"…","plc":"…","schema":"…","seconds":3.1}
//
// SIGTERM or SIGINT (or stdin closing, with --exit-with-stdin) closes the
// servers, drops the PostgreSQL schemas the AppView and Ozone created, and
// removes the PDS data directories, so a test run leaves nothing behind.

import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'

const started = performance.now()

const { values: args } = parseArgs({
  options: {
    'pds-port': { type: 'string' },
    'bsky-port': { type: 'string' },
    'plc-port': { type: 'string' },
    schema: { type: 'string' },
    'exit-with-stdin': { type: 'boolean', default: false },
  },
})

function port(value, name) {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0 || n > 65535) {
    fail(`${name} must be a port number, got ${JSON.stringify(value)}`)
  }
  return n
}

function fail(message) {
  process.stderr.write(`network.mjs: ${message}\n`)
  process.exit(2)
}

const pdsPort = port(args['pds-port'] ?? process.env.PDS_PORT, '--pds-port')
const bskyPort = port(args['bsky-port'] ?? process.env.BSKY_PORT, '--bsky-port')
const plcPort = port(args['plc-port'] ?? process.env.PLC_PORT, '--plc-port')
const schema = args.schema ?? process.env.NETWORK_SCHEMA ?? `rapport_net_${randomLetters(10)}`
// dev-env names its schemas appview_<schema> and ozone_<schema>; they are
// dropped by name at shutdown, so the name must not be able to say anything else.
if (!/^[a-z_]+$/.test(schema)) fail(`--schema must be lower-case letters and _ only, got ${JSON.stringify(schema)}`)
const dbUrl = process.env.DB_POSTGRES_URL
if (!dbUrl) fail('DB_POSTGRES_URL must be set (e.g. postgres://postgres@127.0.0.1:5432/postgres)')
if (!process.env.REDIS_HOST) fail('REDIS_HOST must be set (e.g. 127.0.0.1:6379)')

// The PDS keeps its SQLite files and blobs under os.tmpdir(); a directory of
// our own is removed whole at shutdown (the third-party PDS dev-env starts and
// closes during setup leaves its files there too).
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rapport-atproto-'))
process.env.TMPDIR = dataDir

function randomLetters(n) {
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  let out = ''
  for (let i = 0; i < n; i++) out += letters[Math.floor(Math.random() * letters.length)]
  return out
}

async function dropSchemas() {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: dbUrl })
  await client.connect()
  try {
    for (const name of [`appview_${schema}`, `ozone_${schema}`]) {
      await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
    }
  } finally {
    await client.end()
  }
}

let network = null
let stopping = null

function stop(reason) {
  if (stopping) return stopping
  stopping = (async () => {
    // A server that does not close within 15 s must not keep the schemas alive.
    const deadline = setTimeout(() => {
      process.stderr.write('network.mjs: close timed out\n')
    }, 15000)
    deadline.unref()
    let code = 0
    try {
      if (network) await Promise.race([network.close(), new Promise((r) => setTimeout(r, 15000))])
    } catch (err) {
      process.stderr.write(`network.mjs: close failed: ${err?.stack ?? err}\n`)
      code = 1
    }
    try {
      await dropSchemas()
    } catch (err) {
      process.stderr.write(`network.mjs: dropping the schemas failed: ${err?.stack ?? err}\n`)
      code = 1
    }
    rmSync(dataDir, { recursive: true, force: true })
    process.stderr.write(`network.mjs: stopped (${reason})\n`)
    process.exit(code)
  })()
  return stopping
}

process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
if (args['exit-with-stdin']) {
  // The test process holds our stdin: if it dies without a SIGTERM, we still go.
  process.stdin.on('end', () => stop('stdin closed'))
  process.stdin.on('error', () => stop('stdin error'))
  process.stdin.resume()
}

try {
  const { TestNetwork } = await import('@atproto/dev-env')
  network = await TestNetwork.create({
    dbPostgresUrl: dbUrl,
    dbPostgresSchema: schema,
    pds: { port: pdsPort },
    bsky: { port: bskyPort },
    plc: { port: plcPort },
  })
  keepOffline(network)
} catch (err) {
  process.stderr.write(`network.mjs: the network did not start: ${err?.stack ?? err}\n`)
  await stop('start failed')
}

// The network is all on loopback. The PDS would still try to fetch the DID
// documents of did:web services outside it over HTTPS (a proxied chat call
// names did:web:api.bsky.chat): fail those at once, as an unreachable host
// would, so the tests never look past this machine.
function keepOffline(net) {
  for (const resolver of [net.pds.ctx.idResolver, net.bsky.ctx.idResolver, net.bsky.dataplane.idResolver]) {
    const resolveNoCache = resolver.did.resolveNoCache
    resolver.did.resolveNoCache = async (did) => {
      if (did.startsWith('did:web:') && !did.startsWith('did:web:localhost')) {
        throw new Error(`${did} is outside the local test network`)
      }
      return resolveNoCache.call(resolver.did, did)
    }
  }
}

if (!stopping) {
  const ready = {
    ready: true,
    pds: network.pds.url,
    appview: network.bsky.url,
    plc: network.plc.url,
    appviewDid: network.bsky.ctx.cfg.serverDid,
    schema,
    seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
  }
  process.stdout.write(JSON.stringify(ready) + '\n')
}
