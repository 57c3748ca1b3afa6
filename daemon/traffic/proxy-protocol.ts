import { isIPv4, isIPv6 } from 'node:net';

/**
 * PROXY protocol headers (HAProxy's spec, versions 1 and 2): the first bytes
 * of a forwarded connection, telling the application who the client really
 * is. Pure: addresses in, bytes out.
 */
export interface ConnectionEnds {
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** `::ffff:10.0.0.1` (how Node shows an IPv4 peer on a dual-stack socket) is 10.0.0.1. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

type Family = 4 | 6;

function familyOf(ends: ConnectionEnds): Family | null {
  const source = plainAddress(ends.sourceAddress);
  const destination = plainAddress(ends.destinationAddress);
  if (isIPv4(source) && isIPv4(destination)) return 4;
  if (isIPv6(source) && isIPv6(destination)) return 6;
  return null;
}

/** Version 1: one text line, `PROXY TCP4 src dst sport dport\r\n` (`PROXY UNKNOWN\r\n` when the families differ). */
export function proxyHeaderV1(ends: ConnectionEnds): Buffer {
  const family = familyOf(ends);
  if (family === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const line = `PROXY TCP${family} ${plainAddress(ends.sourceAddress)} ${plainAddress(ends.destinationAddress)} ${ends.sourcePort} ${ends.destinationPort}\r\n`;
  return Buffer.from(line, 'latin1');
}

/** Version 2: the binary header, command PROXY, TCP over IPv4 or IPv6 (LOCAL with no addresses when the families differ). */
export function proxyHeaderV2(ends: ConnectionEnds): Buffer {
  const family = familyOf(ends);
  if (family === null) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const addressBytes = family === 4 ? 4 : 16;
  const body = Buffer.alloc(addressBytes * 2 + 4);
  writeAddress(body, 0, plainAddress(ends.sourceAddress), family);
  writeAddress(body, addressBytes, plainAddress(ends.destinationAddress), family);
  body.writeUInt16BE(ends.sourcePort, addressBytes * 2);
  body.writeUInt16BE(ends.destinationPort, addressBytes * 2 + 2);
  const head = Buffer.from([0x21, family === 4 ? 0x11 : 0x21, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

function writeAddress(target: Buffer, offset: number, address: string, family: Family): void {
  if (family === 4) {
    address.split('.').forEach((octet, i) => target.writeUInt8(Number(octet), offset + i));
    return;
  }
  expandIPv6(address).forEach((group, i) => target.writeUInt16BE(group, offset + i * 2));
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a trailing dotted IPv4 part expanded). */
function expandIPv6(address: string): number[] {
  let text = address.split('%')[0]!;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16));
}

export function proxyHeader(version: 'v1' | 'v2', ends: ConnectionEnds): Buffer {
  return version === 'v1' ? proxyHeaderV1(ends) : proxyHeaderV2(ends);
}
