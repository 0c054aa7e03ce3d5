from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from kjda.connectors.vendors.wecom.sso.provider import WeComProvider

urlpatterns = default_urlpatterns(WeComProvider)
