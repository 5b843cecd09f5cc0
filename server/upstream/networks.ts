// Which addresses the build proxy (and the mirror) may connect to. Pure: the decision is
// made on the address a name resolved to, and the connection then goes to that very
// address, so a name cannot be re-pointed between the check and the connect. Addresses
// are parsed by ipaddr.js; an IPv6 address that carries an IPv4 one (mapped, compatible,
// translated, NAT64, 6to4) is judged as that IPv4 address, however it is written.
import ipaddr from 'ipaddr.js';
import { BlockList } from 'node:net';

// Not the public internet: loopback, "this network", RFC 1918, shared address space,
// link-local, benchmarking, multicast and reserved ranges; unique-local and link-local
// IPv6, NAT64's local-use prefix and Teredo (its IPv4 addresses are obscured).
const PRIVATE_V4 = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const;
const PRIVATE_V6 = [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b:1::', 48],
  ['2001::', 32],
] as const;

const privateList = new BlockList();
for (const [address, prefix] of PRIVATE_V4) privateList.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of PRIVATE_V6) privateList.addSubnet(address, prefix, 'ipv6');

function parsed(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    // A zone (fe80::1%eth0) names an interface, not an address.
    return ipaddr.parse(address.replace(/%.*$/, ''));
  } catch {
    return null;
  }
}

const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/**
 * The address as the rules judge it: an IPv4 address in dotted form, also when written
 * inside IPv6 (`::ffff:7f00:1`, `::ffff:127.0.0.1`, `::7f00:1`, `::ffff:0:7f00:1`,
 * `64:ff9b::7f00:1`, `2002:7f00:1::`), any other IPv6 address in its canonical form;
 * null for what is not an address.
 */
export function plainAddress(address: string): string | null {
  const ip = parsed(address);
  if (!ip) return null;
  if (ip.kind() === 'ipv4') return ip.toString();
  const v6 = ip as ipaddr.IPv6;
  const p = v6.parts as [number, number, number, number, number, number, number, number];
  const zeros = (from: number, to: number): boolean => p.slice(from, to).every((x) => x === 0);
  // ::ffff:0:0/96 (mapped), ::ffff:0:0:0/96 (translated), 64:ff9b::/96 (NAT64).
  if (zeros(0, 5) && p[5] === 0xffff) return v4(p[6], p[7]);
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return v4(p[6], p[7]);
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return v4(p[6], p[7]);
  // ::/96 (IPv4-compatible), but :: and ::1 are themselves.
  if (zeros(0, 6) && (p[6] !== 0 || p[7] > 1)) return v4(p[6], p[7]);
  // 2002::/16 (6to4): the IPv4 address is the next 32 bits.
  if (p[0] === 0x2002) return v4(p[1], p[2]);
  return v6.toRFC5952String();
}

/** An IPv4-mapped (or otherwise embedded) IPv4 address as the IPv4 address it is. */
export function unmapped(address: string): string {
  return plainAddress(address) ?? address;
}

function familyOf(plain: string): 'ipv4' | 'ipv6' {
  return plain.includes(':') ? 'ipv6' : 'ipv4';
}

export function isPrivateAddress(address: string): boolean {
  const plain = plainAddress(address);
  return plain === null || privateList.check(plain, familyOf(plain));
}

/** CIDRs (PROXY_ALLOW_NETWORKS) as a list to check addresses against. */
export function networkList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/') as [string, string | undefined];
    const ip = parsed(address);
    if (!ip) continue;
    const family = ip.kind() === 'ipv4' ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(ip.toString(), family);
    else list.addSubnet(ip.toString(), Number(prefix), family);
  }
  return list;
}

export interface TargetRules {
  /** Private networks allowed anyway (PROXY_ALLOW_NETWORKS). */
  allowed: BlockList;
  /** The repository's own ports (HTTP and proxy), never a target on a local address. */
  ownPorts: ReadonlySet<number>;
  /** Addresses of this machine (its interfaces): with an own port, the repository itself. */
  ownAddresses: ReadonlySet<string>;
}

/** The addresses of this machine in the form plainAddress gives, for TargetRules.ownAddresses. */
export function ownAddressSet(addresses: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const address of addresses) {
    const plain = plainAddress(address);
    if (plain) out.add(plain);
  }
  return out;
}

/** Why the proxy may not connect to this address and port, or null. */
export function targetRefusal(address: string, port: number, rules: TargetRules): string | null {
  const plain = plainAddress(address);
  if (!plain) return `target ${address} is not an address`;
  const family = familyOf(plain);
  const local = rules.ownAddresses.has(plain) || (family === 'ipv4' ? plain.startsWith('127.') || plain === '0.0.0.0' : plain === '::1' || plain === '::');
  if (local && rules.ownPorts.has(port)) return `target ${plain}:${port} is this repository`;
  if (isPrivateAddress(plain) && !rules.allowed.check(plain, family)) return `target ${plain} is a private address`;
  return null;
}
