/**
 * What msal-node throws for an identity-platform answer, as the gateway reports it
 * (`mapIdentityError`): the OAuth error and AADSTS number decide the code, the kind and whether the
 * mailbox needs re-consent; Microsoft's description never reaches the message. The errors are
 * built the way msal-common's ResponseHandler builds them from an error answer. A failed fetch
 * is read by its socket error code.
 */
import { InteractionRequiredAuthError, ServerError, ClientAuthError } from '@azure/msal-node';
import { describe, expect, it } from 'vitest';
import { GraphAuthError, mapIdentityError } from '../src/providers/microsoft-graph/auth-errors.ts';
import { networkErrorCode, networkFailureKind } from '../src/providers/microsoft-graph/network-failure.ts';

const WHERE = 'https://login.example.test';
const DESCRIPTION = 'AADSTS700082: The refresh token has expired due to inactivity. Trace ID: 0f0e Correlation ID: 1a2b secret-looking-text';

function server(error: string, aadsts: number | undefined): ServerError {
  return new ServerError(error, 'correlation', DESCRIPTION, undefined, aadsts === undefined ? undefined : String(aadsts), 400);
}

describe('mapIdentityError', () => {
  it.each([
    ['invalid_grant', 700082, 'grant', 'PROVIDER_AUTH_FAILED', /AADSTS700082: the refresh token expired after a long inactivity/],
    ['invalid_grant', 50173, 'grant', 'PROVIDER_AUTH_FAILED', /AADSTS50173: the grant was revoked/],
    ['invalid_grant', 70000, 'grant', 'PROVIDER_AUTH_FAILED', /AADSTS70000: the grant is not valid/],
    ['invalid_grant', 123456, 'grant', 'PROVIDER_AUTH_FAILED', /\(invalid_grant, AADSTS123456\)/],
    ['invalid_client', 7000222, 'client', 'PROVIDER_AUTH_FAILED', /AADSTS7000222: the client secret has expired\); check MS_CLIENT_ID, MS_CLIENT_SECRET/],
    ['unauthorized_client', 700016, 'client', 'PROVIDER_AUTH_FAILED', /AADSTS700016: the app is not registered in the tenant/],
    ['invalid_request', 90002, 'tenant', 'PROVIDER_AUTH_FAILED', /does not know tenant "contoso\.test" \(invalid_request, AADSTS90002/],
    ['temporarily_unavailable', undefined, 'upstream', 'PROVIDER_UNAVAILABLE', /temporarily unavailable/],
    ['invalid_request', 900144, 'protocol', 'PROVIDER_UNAVAILABLE', /answered the token request with an error \(invalid_request, AADSTS900144\)/],
  ] as const)('%s %s → %s', (oauth, aadsts, failure, code, message) => {
    const mapped = mapIdentityError(server(oauth, aadsts), WHERE, 'contoso.test');
    expect(mapped).toBeInstanceOf(GraphAuthError);
    expect(mapped).toMatchObject({ failure, code, aadsts: aadsts ?? null, needsReconsent: failure === 'grant' });
    expect(mapped.message).toMatch(message);
    expect(mapped.message).not.toMatch(/secret-looking-text|Trace ID|due to inactivity\./);
    // Causes reach the logs: msal's error (Microsoft's description) is not kept.
    expect(mapped.cause).toBeUndefined();
  });

  it('treats consent, MFA and sign-in demands (interaction required) as a grant to renew', () => {
    for (const [oauth, aadsts, words] of [
      ['consent_required', 65001, 'has not consented'],
      ['interaction_required', 50076, 'multi-factor authentication is now required'],
      ['interaction_required', 53003, 'Conditional Access blocked'],
      ['login_required', undefined, 'login_required'],
    ] as const) {
      const error = new InteractionRequiredAuthError(oauth, 'c', DESCRIPTION, undefined, '', '', '', aadsts === undefined ? undefined : String(aadsts));
      const mapped = mapIdentityError(error, WHERE, 'common') as GraphAuthError;
      expect(mapped).toMatchObject({ failure: 'grant', code: 'PROVIDER_AUTH_FAILED', retryable: false });
      expect(mapped.message).toContain(words);
    }
  });

  it('reads an authority msal cannot use as configuration, and anything else as a protocol failure', () => {
    const authority = mapIdentityError(new ClientAuthError('endpoints_resolution_error', 'c'), WHERE, 'contoso.test') as GraphAuthError;
    expect(authority).toMatchObject({ failure: 'tenant', code: 'PROVIDER_AUTH_FAILED' });
    expect(authority.message).toMatch(/check MS_LOGIN_ROOT and MS_TENANT_ID/);
    expect(mapIdentityError(new TypeError('boom'), WHERE, 'x')).toMatchObject({ failure: 'protocol', code: 'PROVIDER_UNAVAILABLE' });
  });
});

describe('networkFailureKind', () => {
  it('reads the socket error code of a failed fetch (own or in its cause) as the check reason', () => {
    const failed = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
    expect([
      'ENOTFOUND',
      'EAI_AGAIN',
      'ECONNREFUSED',
      'CERT_HAS_EXPIRED',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'ECONNRESET',
      'EHOSTUNREACH',
    ].map((code) => networkFailureKind(networkErrorCode(failed(code))))).toEqual(['dns', 'dns', 'refused', 'tls', 'tls', 'tls', 'tls', 'unreachable', 'unreachable']);
    expect(networkErrorCode(new TypeError('fetch failed'))).toBeNull();
    expect(networkFailureKind(null)).toBe('unreachable');
  });
});
