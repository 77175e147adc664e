#!/usr/bin/env node
// Interop peer for the lwm2m-gw test suite: an LwM2M 1.0 client built with
// the independent `lwm2m-node-lib` implementation.
//
// Usage: node client.js --host 127.0.0.1 --port 5683 --endpoint NAME [--lifetime 300]
//
// It creates a few object instances, registers to the given server and then
// prints one line per event on stdout (and nothing else there):
//   registered <location>             once the server accepted the registration
//   read /3/0/0                       for every read it answers
//   write /3311/0/5851 = 75           for every write it accepts
// It stays up until killed (SIGTERM/SIGINT deregister first when possible).
// Errors go to stderr and end the process with exit code 1.
'use strict';

// lwm2m-node-lib pulls in an old mongoose whose circular requires make Node
// print warnings on stderr; they say nothing about the LwM2M exchange.
process.removeAllListeners('warning');

const lwm2m = require('lwm2m-node-lib');

function parseArgs(argv) {
    const args = { host: '127.0.0.1', port: 5683, endpoint: null, lifetime: 300 };
    for (let i = 0; i < argv.length; i += 2) {
        const key = argv[i];
        const value = argv[i + 1];
        if (value === undefined) {
            fail(`missing value after ${key}`);
        }
        switch (key) {
        case '--host': args.host = value; break;
        case '--port': args.port = Number(value); break;
        case '--endpoint': args.endpoint = value; break;
        case '--lifetime': args.lifetime = Number(value); break;
        default: fail(`unknown argument ${key}`);
        }
    }
    if (!args.endpoint) {
        fail('--endpoint is required');
    }
    if (!Number.isInteger(args.port) || args.port <= 0 || args.port > 65535) {
        fail(`invalid --port ${args.port}`);
    }
    return args;
}

function fail(message) {
    process.stderr.write(`client.js: ${message}\n`);
    process.exit(1);
}

function say(line) {
    process.stdout.write(`${line}\n`);
}

// Object instances and resource values this client exposes. lwm2m-node-lib
// only serves single-resource reads and writes, in plain text.
const OBJECTS = {
    '/3/0': {
        0: 'lwm2m-node-lib',      // Manufacturer
        1: 'interop-client',      // Model Number
        2: 'NODE-0001',           // Serial Number
        3: '1.4.0',               // Firmware Version
    },
    '/3303/0': {
        5700: '21.5',             // Sensor Value (R, Float)
        5701: 'Cel',              // Sensor Units (R, String)
        5750: 'room',             // Application Type (RW, String)
    },
    '/3311/0': {
        5850: '0',                // On/Off (RW, Boolean)
        5851: '20',               // Dimmer (RW, Integer)
        5706: 'white',            // Colour (RW, String)
    },
};

// Creates every object instance and sets its resources, one after the other.
function createObjects(callback) {
    const steps = [];
    for (const [uri, resources] of Object.entries(OBJECTS)) {
        steps.push((next) => lwm2m.client.registry.create(uri, next));
        for (const [resourceId, value] of Object.entries(resources)) {
            steps.push((next) => lwm2m.client.registry.setResource(uri, resourceId, value, next));
        }
    }
    (function run() {
        const step = steps.shift();
        if (step === undefined) {
            callback(null);
            return;
        }
        step((error) => (error ? callback(error) : run()));
    })();
}

function main() {
    const args = parseArgs(process.argv.slice(2));

    lwm2m.client.init({ logLevel: 'FATAL', client: {
        lifetime: String(args.lifetime),
        version: '1.0',
        logLevel: 'FATAL',
        observe: { period: 3000 },
        ipProtocol: 'udp4',
        serverProtocol: 'udp4',
        formats: [{ name: 'lightweightm2m/text', value: 1541 }],
        writeFormat: 'lightweightm2m/text',
    } });

    createObjects((createError) => {
        if (createError) {
            fail(`cannot create objects: ${createError.message || createError}`);
        }
        lwm2m.client.register(args.host, args.port, null, args.endpoint, (error, deviceInfo) => {
            if (error) {
                fail(`registration to ${args.host}:${args.port} failed: ${error.message || error.name || error}`);
            }
            const info = deviceInfo.serverInfo;
            lwm2m.client.setHandler(info, 'read', (objectType, objectId, resourceId, value, callback) => {
                say(`read /${objectType}/${objectId}/${resourceId}`);
                callback(null, value);
            });
            lwm2m.client.setHandler(info, 'write', (objectType, objectId, resourceId, value, callback) => {
                say(`write /${objectType}/${objectId}/${resourceId} = ${value}`);
                callback(null);
            });
            lwm2m.client.setHandler(info, 'execute', (objectType, objectId, resourceId, value, callback) => {
                say(`execute /${objectType}/${objectId}/${resourceId}`);
                callback(null);
            });
            say(`registered /${deviceInfo.location}`);

            let stopping = false;
            function stop() {
                if (stopping) {
                    return;
                }
                stopping = true;
                // Deregister, but never hang on an unresponsive server.
                setTimeout(() => process.exit(0), 1000).unref();
                lwm2m.client.unregister(deviceInfo, () => process.exit(0));
            }
            process.on('SIGTERM', stop);
            process.on('SIGINT', stop);
        });
    });
}

main();
