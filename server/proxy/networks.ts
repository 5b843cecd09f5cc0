// Which addresses the build proxy (and the mirror) may connect to. Pure: the decision is
// made on the address a name resolved to, and the connection then goes to that very
// address, so a name cannot be re-pointed between the check and the connect.
import { BlockList, isIP } from 'node:net';

// Not the public internet: loopback, "this network", RFC 1918, shared address space,
// link-local, benchmarking, multicast and reserved ranges; unique-local and link-local
// IPv6, and the IPv4-mapped forms of all the IPv4 ones.
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
] as const;

const privateList = new BlockList();
for (const [address, prefix] of PRIVATE_V4) privateList.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of PRIVATE_V6) privateList.addSubnet(address, prefix, 'ipv6');

/** An IPv4-mapped IPv6 address as the IPv4 address it is. */
export function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? (m[1] as string) : address;
}

function familyOf(address: string): 'ipv4' | 'ipv6' | null {
  const family = isIP(address);
  return family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : null;
}

export function isPrivateAddress(address: string): boolean {
  const plain = unmapped(address);
  const family = familyOf(plain);
  return family === null || privateList.check(plain, family);
}

/** CIDRs (PROXY_ALLOW_NETWORKS) as a list to check addresses against. */
export function networkList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/') as [string, string | undefined];
    const family = familyOf(address);
    if (!family) continue;
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
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

/** Why the proxy may not connect to this address and port, or null. */
export function targetRefusal(address: string, port: number, rules: TargetRules): string | null {
  const plain = unmapped(address);
  const family = familyOf(plain);
  if (!family) return `target ${address} is not an address`;
  const local = rules.ownAddresses.has(plain) || plain.startsWith('127.') || plain === '::1' || plain === '0.0.0.0' || plain === '::';
  if (local && rules.ownPorts.has(port)) return `target ${plain}:${port} is this repository`;
  if (isPrivateAddress(plain) && !rules.allowed.check(plain, family)) return `target ${plain} is a private address`;
  return null;
}
