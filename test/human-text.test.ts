/**
 * What people read (logs, ctl, demo): thresholds and rates with their units, communities by
 * their well-known names. JSON documents keep FastNetMon's field names and plain numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import winston from 'winston';
import { communityText, parseCommunity, WELL_KNOWN_COMMUNITIES } from '../src/config/values.js';
import { rateText, thresholdName, thresholdText } from '../src/detection/layout.js';
import { logger } from '../src/log.js';
import { MitigationManager } from '../src/mitigation/manager.js';
import { crossingText } from '../src/escalation/rates.js';
import { FakeJournal, fakeFlowspec, testConfig } from './fixtures/mitigation/helpers.js';
import { parseCause } from '../src/mitigation/cause.js';

test('thresholds and rates carry their unit: udp + mbps 100 is "udp 100 Mbps", FastNetMon names stay for JSON', () => {
  assert.equal(thresholdText('udp', 'mbps', 100), 'udp 100 Mbps');
  assert.equal(thresholdText('total', 'pps', 20_000), 'total 20000 pps');
  assert.equal(thresholdText('tcp_syn', 'flows', 50), 'tcp_syn 50 flows/s');
  assert.equal(thresholdName('udp', 'mbps'), 'udp_bits_per_second', 'the JSON name is unchanged');
  assert.equal(rateText(0.5, 'mbps'), '0.5 Mbps');
  assert.equal(rateText(812.345, 'mbps'), '812 Mbps');
  assert.equal(rateText(12.345, 'mbps'), '12.3 Mbps');
  assert.equal(rateText(52_900.4, 'pps'), '52900 pps');
  assert.equal(
    crossingText({
      direction: 'incoming',
      class: 'udp',
      unit: 'mbps',
      value: 812.3,
      threshold: 100,
      source: 'ban',
    }),
    'incoming udp 812 Mbps > 100 Mbps (ban-time peak)',
  );
});

test('communityText: well-known communities by name (RFC 1997, 7999, 8326, ...), others as a:b', () => {
  assert.equal(communityText('65535:65281'), 'no-export');
  assert.equal(communityText('65535:65282'), 'no-advertise');
  assert.equal(
    communityText('65535:65283'),
    'no-export-subconfed',
    'the RFC 1997 name, not its alias local-as',
  );
  assert.equal(communityText('65535:666'), 'blackhole');
  assert.equal(communityText('65535:0'), 'graceful-shutdown');
  assert.equal(communityText('65535:65284'), 'no-peer');
  assert.equal(communityText(0xffffff01), 'no-export');
  assert.equal(communityText('no_export'), 'no-export');
  assert.equal(communityText('64500:666'), '64500:666');
  assert.equal(communityText('not a community'), 'not a community');
  // Every name reads back to its value.
  for (const [name, v] of Object.entries(WELL_KNOWN_COMMUNITIES))
    assert.equal(parseCommunity(communityText(v)), v, name);
});

test('the announce and withdraw log lines name the communities', async () => {
  const lines: string[] = [];
  const t = new winston.transports.Stream({
    stream: new Writable({
      write: (c: Buffer, _e, done) => {
        lines.push(String(c));
        done();
      },
    }),
  });
  logger.add(t);
  try {
    const cfg = testConfig();
    const mgr = new MitigationManager({ cfg, journal: new FakeJournal(), flowspec: fakeFlowspec });
    const r = await mgr.add({
      kind: 'blackhole',
      prefix: '203.0.113.7/32',
      ip: '203.0.113.7',
      cause: parseCause('manual'),
      hostgroup: 'default',
      expires_at: null,
      communities: ['65535:666', '65535:65281', '64500:1'],
      large_communities: [],
    });
    assert.equal(r.ok, true, r.error);
    await mgr.remove(r.mitigation!.uuid, 'test');
    const mine = lines.filter((l) => l.includes('203.0.113.7/32'));
    assert.equal(mine.length, 2, lines.join(''));
    for (const l of mine) assert.match(l, /community blackhole community no-export community 64500:1/);
  } finally {
    logger.remove(t);
  }
});
