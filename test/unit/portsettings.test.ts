import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonServerPort, refusePortOverrides } from '../../src/config/portsettings.ts';

const refuses = (o: string[], a: string[], e: [string, string][], re: RegExp) => assert.throws(() => refusePortOverrides(o, a, e), re);

test('a port in java-opts is refused, naming java-opts and the setting; {port} and other -D pass', () => {
  refuses(['-Xmx512m', '-Dserver.port=8080'], [], [], /^InputError: input 'java-opts': '-Dserver\.port=8080' sets the port .*both colours would aim at port 8080.*-Dserver\.port=\{port\}/);
  refuses(['-DSERVER.PORT=9000'], [], [], /input 'java-opts'/);
  refuses(['-Dspring.application.json={"server":{"port":8080}}'], [], [], /input 'java-opts': -Dspring\.application\.json sets server\.port \(8080\)/);
  refusePortOverrides(['-Dserver.port={port}', '-Dserver.address=0.0.0.0', '-Dmanagement.server.port=9090', '-Dspring.application.json={"a":1}'], [], []);
});

test('a port in app-args is refused: command-line arguments outrank -D', () => {
  refuses([], ['--server.port=8080'], [], /^InputError: input 'app-args': '--server\.port=8080' sets the port .*command-line arguments above/);
  refuses([], ['--spring.application.json={"server.port":"8081"}'], [], /input 'app-args': --spring\.application\.json sets server\.port \(8081\)/);
  refusePortOverrides([], ['--server.port={port}', '--spring.profiles.active=prod', 'server.port=1'], []);
});

test('SPRING_APPLICATION_JSON with server.port is refused; SERVER_PORT is harmless', () => {
  refuses([], [], [['SPRING_APPLICATION_JSON', '{"server":{"port":8080},"x":1}']], /^InputError: input 'env': SPRING_APPLICATION_JSON sets server\.port \(8080\).*SERVER_PORT in env is harmless/);
  refuses([], [], [['SPRING_APPLICATION_JSON', '{"server.port":"{port}"}']], /input 'env'/);
  refusePortOverrides([], [], [['SERVER_PORT', '8080'], ['SPRING_APPLICATION_JSON', '{"spring":{"main":{"banner-mode":"off"}}}']]);
});

test('jsonServerPort reads flat and nested names, relaxed', () => {
  assert.equal(jsonServerPort('{"server":{"port":1}}'), '1');
  assert.equal(jsonServerPort('{"Server.Port":"2"}'), '2');
  assert.equal(jsonServerPort('{"server":{"address":"x"}}'), undefined);
  assert.equal(jsonServerPort('not json'), undefined);
});
