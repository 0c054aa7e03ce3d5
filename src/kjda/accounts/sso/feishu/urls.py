from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from kjda.accounts.sso.feishu.provider import FeishuProvider

urlpatterns = default_urlpatterns(FeishuProvider)
