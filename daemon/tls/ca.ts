import 'reflect-metadata';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { BicycleError } from '../errors';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256 with SHA-256: what the cluster CA and every node certificate use. */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate and its private key, both PEM (the key as PKCS#8). */
export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

/** What a node needs to know of a certificate: who it names, its serial, when it is valid. */
export interface CertificateInfo {
  /** The subject's common name: a node certificate's node id. */
  commonName: string;
  serial: string;
  notBeforeMs: number;
  notAfterMs: number;
  /** `sha256:` and the hex SHA-256 of the DER encoding. */
  fingerprint: string;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new BicycleError('INVALID_ARGUMENT', 'not a PEM private key');
  return webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
}

/** How far back a certificate's validity starts: the clocks of a cluster's hosts are never quite equal (a minute, less for short lifetimes). */
function clockSkewMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 10));
}

/** A positive serial of 16 random bytes (RFC 5280 allows up to 20), as hex. */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/**
 * Creates a cluster CA: a self-signed ECDSA P-256 certificate (CN "bicycle
 * cluster CA <clusterId>") that may sign node certificates only (path
 * length 0), valid from `nowMs` for `lifetimeMs`.
 */
export async function createClusterCa(clusterId: string, nowMs: number, lifetimeMs: number): Promise<KeyPairPem> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=bicycle cluster CA ${clusterId}`,
    notBefore: new Date(nowMs - clockSkewMs(lifetimeMs)),
    notAfter: new Date(nowMs + lifetimeMs),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A node's new key pair and the certificate signing request for `nodeId` it sends to the leader. */
export async function createNodeRequest(nodeId: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${nodeId}`, keys, signingAlgorithm: ALGORITHM });
  return { keyPem: await exportKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

/**
 * Signs a node certificate with the CA. Whatever the request asks, the
 * certificate names `nodeId` (subject CN and DNS SAN) and the host of
 * `address` (IP SAN, or DNS SAN for a name), serves as TLS server and
 * client, and is valid from `nowMs` for `lifetimeMs`. Throws
 * INVALID_ARGUMENT when the request is not a PEM CSR or its signature does
 * not verify (the sender does not hold the key it asks a certificate for).
 */
export async function signNodeCertificate(
  ca: KeyPairPem,
  request: { csrPem: string; nodeId: string; address: string },
  nowMs: number,
  lifetimeMs: number,
): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(request.csrPem);
  } catch (error) {
    throw new BicycleError('INVALID_ARGUMENT', `the certificate request is not a PEM PKCS#10 request: ${(error as Error).message}`);
  }
  if (!(await csr.verify())) throw new BicycleError('INVALID_ARGUMENT', 'the certificate request\'s signature does not verify');
  const caCert = new x509.X509Certificate(ca.certPem);
  const host = request.address.slice(0, request.address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const names: x509.JsonGeneralName[] = [{ type: 'dns', value: request.nodeId }];
  names.push(isIP(host) ? { type: 'ip', value: host } : { type: 'dns', value: host });
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: `CN=${request.nodeId}`,
    issuer: caCert.subject,
    notBefore: new Date(nowMs - clockSkewMs(lifetimeMs)),
    notAfter: new Date(nowMs + lifetimeMs),
    signingAlgorithm: ALGORITHM,
    publicKey: csr.publicKey,
    signingKey: await importKeyPem(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString('pem');
}

/** `sha256:` and the hex SHA-256 of a PEM certificate's DER encoding (what a join token carries of the CA). */
export function fingerprintOf(certPem: string): string {
  const der = x509.PemConverter.decode(certPem)[0];
  if (!der) throw new BicycleError('INVALID_ARGUMENT', 'not a PEM certificate');
  return `sha256:${createHash('sha256').update(Buffer.from(der)).digest('hex')}`;
}

/** The subject, serial and validity of a PEM certificate. */
export function certificateInfo(certPem: string): CertificateInfo {
  const cert = new x509.X509Certificate(certPem);
  const cn = cert.subjectName.getField('CN')[0] ?? '';
  return {
    commonName: cn,
    serial: cert.serialNumber,
    notBeforeMs: cert.notBefore.getTime(),
    notAfterMs: cert.notAfter.getTime(),
    fingerprint: fingerprintOf(certPem),
  };
}

/** Whether `certPem` was signed by the CA `caPem` (its signature verifies with the CA's key). */
export async function isSignedBy(certPem: string, caPem: string): Promise<boolean> {
  const ca = new x509.X509Certificate(caPem);
  return new x509.X509Certificate(certPem).verify({ publicKey: ca.publicKey, signatureOnly: true });
}

/** When a certificate should be renewed: two thirds of the way through its validity. */
export function renewAtMs(info: Pick<CertificateInfo, 'notBeforeMs' | 'notAfterMs'>): number {
  return info.notBeforeMs + ((info.notAfterMs - info.notBeforeMs) * 2) / 3;
}
