import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { ConfigError } from '@mixlab/service-kit';
import { advertisedAddress } from './config.ts';

const ipv4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '02:42:0a:00:00:02',
  internal,
  cidr: `${address}/24`,
});

// A swarm task's interfaces: docker_gwbridge listed before the overlay network.
const swarmTask = {
  lo: [ipv4('127.0.0.1', true)],
  eth0: [ipv4('172.18.0.3')],
  eth1: [ipv4('10.231.0.7')],
};

describe('advertisedAddress', () => {
  it('takes the first external IPv4 address without a subnet, else the host name', () => {
    assert.equal(advertisedAddress(swarmTask, 'host'), '172.18.0.3');
    assert.equal(advertisedAddress({ lo: [ipv4('127.0.0.1', true)] }, 'host'), 'host');
  });

  it('takes the address inside ADVERTISED_SUBNET, whatever the interface order', () => {
    assert.equal(advertisedAddress(swarmTask, 'host', '10.231.0.0/16'), '10.231.0.7');
    assert.equal(advertisedAddress(swarmTask, 'host', '172.18.0.0/24'), '172.18.0.3');
  });

  it('refuses a subnet no interface is in, and one that is not a CIDR, saying which', () => {
    assert.throws(
      () => advertisedAddress(swarmTask, 'host', '10.99.0.0/16'),
      (error: Error) => error instanceof ConfigError && /found 172\.18\.0\.3, 10\.231\.0\.7/.test(error.message),
    );
    for (const bad of ['10.231.0.0', '10.231.0.0/33', 'overlay/16', '10.231.0.0/x'])
      assert.throws(() => advertisedAddress(swarmTask, 'host', bad), /ADVERTISED_SUBNET must be an IPv4 CIDR/);
  });
});
