export * from './delivery.ts';
export * from './framing.ts';
export { onion } from './onion/onion.ts';
export * from './packet-format.ts';
export { createGeometry, defaultGeometry, type Geometry, type GeometryParameters } from './sphinx/geometry.ts';
export { createSphinx, type SphinxFormat, type SphinxOptions, sphinx, type TestVectorBytes } from './sphinx/sphinx.ts';

import { onion } from './onion/onion.ts';
import type { PacketFormat, PacketFormatName } from './packet-format.ts';
import { sphinx } from './sphinx/sphinx.ts';

const formats: Record<PacketFormatName, PacketFormat> = { onion, sphinx };
export const PACKET_FORMAT_NAMES = Object.keys(formats) as PacketFormatName[];

/** Looks a format up by the name a deployment configures. */
export function packetFormat(name: PacketFormatName): PacketFormat {
  return formats[name];
}
