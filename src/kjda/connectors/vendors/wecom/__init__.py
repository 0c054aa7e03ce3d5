"""WeCom (企业微信): connector, API client, callback parsing and SSO provider in one package."""
