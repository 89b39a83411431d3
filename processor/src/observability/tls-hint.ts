/**
 * What to fix when a TLS connection fails, from Node's error code or message (kafkajs passes only
 * the message on). `settings` names the user's settings for that connection, e.g. REDIS_TLS_CA_FILE.
 * Undefined when the failure is not about certificates.
 */
export function tlsHint(
  error: { code?: unknown; message?: unknown } | string,
  settings: { ca: string; clientCert: string },
): string | undefined {
  const code = typeof error === 'string' ? '' : String(error.code ?? '');
  const message = typeof error === 'string' ? error : String(error.message ?? '');
  const text = `${code} ${message}`;
  if (
    /SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE_FAILURE|self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate/i.test(
      text,
    )
  )
    return `the server's TLS certificate is not signed by a CA this process trusts: set ${settings.ca} to the CA certificate that signed the server's certificate`;
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i.test(text))
    return "the server's TLS certificate does not name the host connected to: connect by a name or IP address in its subjectAltName, or reissue the certificate";
  if (/CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|certificate has expired|certificate is not yet valid/i.test(text))
    return "the server's TLS certificate is expired or not yet valid: renew it (and check the clocks)";
  if (
    /alert (certificate required|bad certificate|unknown ca|certificate unknown|handshake failure)/i.test(
      text,
    )
  )
    return `the server refused this process's client certificate (mutual TLS): set ${settings.clientCert} to a certificate and key signed by a CA the server trusts`;
  if (/wrong version number|packet length too long|EPROTO/i.test(text))
    return 'the TLS handshake failed: check that the address is a TLS port (rediss:// and Kafka SSL listeners) and the server speaks TLS there';
  return undefined;
}
