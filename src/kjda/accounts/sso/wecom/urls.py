from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from kjda.accounts.sso.wecom.provider import WeComProvider

urlpatterns = default_urlpatterns(WeComProvider)
