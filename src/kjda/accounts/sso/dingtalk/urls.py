from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from kjda.accounts.sso.dingtalk.provider import DingTalkProvider

urlpatterns = default_urlpatterns(DingTalkProvider)
