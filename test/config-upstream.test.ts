/** The IMAP and download limits read from the environment: defaults, overrides, refused values. */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { DATA_DIR: os.tmpdir() };

describe('IMAP and download limits in the configuration', () => {
  it('has documented defaults', () => {
    const config = loadConfig(base);
    expect(config.imap).toEqual({
      max: 3,
      maxDownloads: 2,
      connectTimeoutMs: 10_000,
      greetingTimeoutMs: 10_000,
      commandTimeoutMs: 20_000,
      acquireTimeoutMs: 10_000,
      breakerFailures: 5,
      breakerHalfOpenAfterMs: 30_000,
      indexCheckIntervalMs: 0,
    });
    expect(config.downloadStallTimeoutMs).toBe(30_000);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      ...base,
      IMAP_MAX_CONNECTIONS: '5',
      IMAP_MAX_DOWNLOADS: '3',
      IMAP_CONNECT_TIMEOUT_MS: '1000',
      IMAP_GREETING_TIMEOUT_MS: '2000',
      IMAP_COMMAND_TIMEOUT_MS: '3000',
      IMAP_ACQUIRE_TIMEOUT_MS: '4000',
      IMAP_BREAKER_FAILURES: '2',
      IMAP_BREAKER_HALF_OPEN_MS: '5000',
      IMAP_INDEX_CHECK_MS: '2000',
      DOWNLOAD_STALL_TIMEOUT_MS: '6000',
    });
    expect(config.imap).toEqual({
      max: 5,
      maxDownloads: 3,
      connectTimeoutMs: 1000,
      greetingTimeoutMs: 2000,
      commandTimeoutMs: 3000,
      acquireTimeoutMs: 4000,
      breakerFailures: 2,
      breakerHalfOpenAfterMs: 5000,
      indexCheckIntervalMs: 2000,
    });
    expect(config.downloadStallTimeoutMs).toBe(6000);
  });

  it('refuses bad values, one line each', () => {
    expect(() => loadConfig({ ...base, IMAP_COMMAND_TIMEOUT_MS: '5s', IMAP_MAX_CONNECTIONS: '0', DOWNLOAD_STALL_TIMEOUT_MS: '-1' })).toThrow(
      /IMAP_MAX_CONNECTIONS must be an integer from 1 to 100, got "0"\n- IMAP_COMMAND_TIMEOUT_MS must be an integer from 100 to 3600000, got "5s"\n- DOWNLOAD_STALL_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ ...base, IMAP_MAX_CONNECTIONS: '2', IMAP_MAX_DOWNLOADS: '3' })).toThrow('IMAP_MAX_DOWNLOADS (3) must not exceed IMAP_MAX_CONNECTIONS (2)');
  });
});

describe('Microsoft Graph settings in the configuration', () => {
  it("defaults to Microsoft's endpoints, the common authority and no app", () => {
    expect(loadConfig(base).microsoft).toEqual({
      graphRoot: 'https://graph.microsoft.com',
      loginRoot: 'https://login.microsoftonline.com',
      clientId: null,
      clientSecret: null,
      tenantId: 'common',
    });
  });

  it('reads every variable, origins without a trailing slash', () => {
    const config = loadConfig({
      ...base,
      MS_GRAPH_ROOT: 'https://127.0.0.1:8443/',
      MS_LOGIN_ROOT: 'https://127.0.0.1:8444',
      MS_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
      MS_CLIENT_SECRET: 'abc~secret',
      MS_TENANT_ID: 'contoso.onmicrosoft.com',
    });
    expect(config.microsoft).toEqual({
      graphRoot: 'https://127.0.0.1:8443',
      loginRoot: 'https://127.0.0.1:8444',
      clientId: '00000000-0000-0000-0000-000000000001',
      clientSecret: 'abc~secret',
      tenantId: 'contoso.onmicrosoft.com',
    });
  });

  it('refuses a root with a path (/v1.0 is added by the provider), a bad tenant and a secret with spaces', () => {
    for (const env of [{ MS_GRAPH_ROOT: 'https://graph.microsoft.com/v1.0' }, { MS_TENANT_ID: 'a/b' }, { MS_CLIENT_SECRET: 'a b' }, { MS_LOGIN_ROOT: 'ftp://login' }]) {
      expect(() => loadConfig({ ...base, ...env })).toThrow(new RegExp(`${Object.keys(env)[0]} must`));
    }
  });
});
