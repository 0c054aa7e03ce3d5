"""kjda-oasim: the OA simulator (DingTalk, WeCom, Feishu, Weaver and their SSO), the demo's
sample records and the test helpers. A distribution of its own beside kjda: the runtime wheel
carries none of it, and nothing in kjda imports it."""
