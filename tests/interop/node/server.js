#!/usr/bin/env node
// Interop peer for the lwm2m-gw test suite: an LwM2M 1.0 server built with
// the independent `lwm2m-node-lib` implementation.
//
// Usage: node server.js [--port 0] [--endpoint NAME] [--read /3/0/0,/3303/0/5700]
//                       [--write /3311/0/5850=1,...] [--timeout-ms 20000]
//
// It listens on the given UDP port (0 picks a free one) and prints on stdout:
//   listening <port>
//   registered <endpoint> lwm2m=<version> lt=<lifetime> b=<binding> <objects link>
//   {"path":"/3/0/0","value":"..."}   one JSON line per read, in --read order
//   {"path":"/3311/0/5850","written":"1","readBack":"1"}   one JSON line per write (plain
//                                     text, then read back), after the reads
// then exits 0. When no client (or not the expected endpoint) registers, or a
// read fails, before the timeout, it prints the reason on stderr and exits 1.
'use strict';

// lwm2m-node-lib pulls in an old mongoose whose circular requires make Node
// print warnings on stderr; they say nothing about the LwM2M exchange.
process.removeAllListeners('warning');

const lwm2m = require('lwm2m-node-lib');

function fail(message) {
    process.stderr.write(`server.js: ${message}\n`);
    process.exit(1);
}

function say(line) {
    process.stdout.write(`${line}\n`);
}

function parseArgs(argv) {
    const args = { port: 0, endpoint: null, reads: ['/3/0/0', '/3303/0/5700'], writes: [], timeoutMs: 20000 };
    for (let i = 0; i < argv.length; i += 2) {
        const key = argv[i];
        const value = argv[i + 1];
        if (value === undefined) {
            fail(`missing value after ${key}`);
        }
        switch (key) {
        case '--port': args.port = Number(value); break;
        case '--endpoint': args.endpoint = value; break;
        case '--read': args.reads = value.split(',').filter((p) => p.length > 0); break;
        case '--write': args.writes = value.split(',').filter((w) => w.length > 0); break;
        case '--timeout-ms': args.timeoutMs = Number(value); break;
        default: fail(`unknown argument ${key}`);
        }
    }
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
        fail(`invalid --port ${args.port}`);
    }
    for (const path of args.reads) {
        if (!/^\/\d+\/\d+\/\d+$/.test(path)) {
            fail(`invalid --read path ${path} (expected /object/instance/resource)`);
        }
    }
    args.writes = args.writes.map((item) => {
        const match = /^(\/\d+\/\d+\/\d+)=(.*)$/.exec(item);
        if (!match) {
            fail(`invalid --write ${item} (expected /object/instance/resource=value)`);
        }
        return { path: match[1], value: match[2] };
    });
    return args;
}

function describe(error) {
    return (error && (error.message || error.name)) || String(error);
}

function main() {
    const args = parseArgs(process.argv.slice(2));
    const config = {
        port: args.port,
        lifetimeCheckInterval: 1000,
        udpWindow: 100,
        defaultType: 'Device',
        logLevel: 'FATAL',
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [
            { name: 'application-vnd-oma-lwm2m/text', value: 1541 },
            { name: 'application-vnd-oma-lwm2m/tlv', value: 1542 },
            { name: 'application-vnd-oma-lwm2m/json', value: 1543 },
            { name: 'application-vnd-oma-lwm2m/opaque', value: 1544 },
        ],
        // Writes and single-resource reads in plain text (content format 0), which LwM2M
        // registers; the library's default write format is a pre-release number (1541).
        writeFormat: 'text/plain',
        defaultAcceptFormat: 'text/plain',
    };

    const timer = setTimeout(() => {
        fail(`timed out after ${args.timeoutMs} ms (${started ? 'registered' : 'no registration'})`);
    }, args.timeoutMs);
    let started = false;

    function readAll(deviceName) {
        lwm2m.server.getDevice(deviceName, (error, device) => {
            if (error) {
                fail(`registered device ${deviceName} not found: ${describe(error)}`);
            }
            const reads = args.reads.slice();
            const writes = args.writes.slice();
            (function next() {
                const path = reads.shift();
                if (path !== undefined) {
                    const [, objectType, objectId, resourceId] = path.split('/');
                    lwm2m.server.read(device.id, objectType, objectId, resourceId, (readError, value) => {
                        if (readError) {
                            fail(`read ${path} from ${deviceName} failed: ${describe(readError)}`);
                        }
                        say(JSON.stringify({ path, value }));
                        next();
                    });
                    return;
                }
                const write = writes.shift();
                if (write !== undefined) {
                    const [, objectType, objectId, resourceId] = write.path.split('/');
                    lwm2m.server.write(device.id, objectType, objectId, resourceId, write.value, (writeError) => {
                        if (writeError) {
                            fail(`write ${write.path} to ${deviceName} failed: ${describe(writeError)}`);
                        }
                        lwm2m.server.read(device.id, objectType, objectId, resourceId, (readError, value) => {
                            if (readError) {
                                fail(`read back ${write.path} from ${deviceName} failed: ${describe(readError)}`);
                            }
                            say(JSON.stringify({ path: write.path, written: write.value, readBack: value }));
                            next();
                        });
                    });
                    return;
                }
                clearTimeout(timer);
                process.exit(0);
            })();
        });
    }

    lwm2m.server.start(config, (error, serverInfo) => {
        if (error) {
            fail(`cannot start server on port ${args.port}: ${describe(error)}`);
        }
        // lwm2m-node-lib sends its requests to itself (as a CoAP proxy), so its
        // configuration must hold the port actually bound when 0 was asked.
        const port = serverInfo.server._sock.address().port;
        config.port = port;

        lwm2m.server.setHandler(serverInfo, 'registration',
            (endpoint, lifetime, version, binding, payload, callback) => {
                if (args.endpoint !== null && endpoint !== args.endpoint) {
                    process.stderr.write(`server.js: ignoring registration of ${endpoint}\n`);
                    callback(null);
                    return;
                }
                say(`registered ${endpoint} lwm2m=${version} lt=${lifetime} b=${binding} ${payload}`);
                callback(null);
                if (!started) {
                    started = true;
                    // The 2.01 answer goes out after this handler returns: read afterwards.
                    setTimeout(() => readAll(endpoint), 100);
                }
            });
        lwm2m.server.setHandler(serverInfo, 'updateRegistration', (object, callback) => callback(null));
        lwm2m.server.setHandler(serverInfo, 'unregistration', (device, callback) => callback(null));
        say(`listening ${port}`);
    });
}

main();
