"""Forms of the OA integration pages: a connector (its settings fields come from the connector
class's `settings_spec`), a mapping rule, and the intake filters. They parse input only; the
rules live in `kjda.connectors.services`, whose DomainErrors the views show."""

from __future__ import annotations

import re
from typing import cast

from django import forms
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from kjda.connectors.base import SettingSpec
from kjda.connectors.models import InboxStatus, Scenario
from kjda.platforms import kind_choices as platform_kind_choices
from kjda.platforms import platforms
from kjda.web.forms import category_choices

SETTING_PREFIX = "setting_"
FIELD_PREFIX = "field_"
# A mapping's field names (kjda.connectors.scenarios) and what each one names in the OA form.
MAPPING_FIELDS = [
    ("title", _("题名")), ("amount", _("金额")), ("applicant", _("申请人")),
    ("department", _("部门")), ("date", _("日期")), ("summary", _("摘要/事由")),
    ("invoices", _("发票（附件控件）")), ("attachments", _("附件（附件控件）")),
    ("contract", _("合同文件（附件控件）")), ("related", _("关联审批（实例 ID）")),
    ("payee", _("收款方")), ("payee_account", _("收款账号")),
]
_SPLIT_IDS = re.compile(r"[\s,，;；、]+")


def kind_choices() -> list[tuple[str, str]]:
    """The registered platforms, labelled in the page's language; a platform whose Chinese
    label is not in our catalogue (one from another package) shows its own English label."""
    english = not (get_language() or "zh").startswith("zh")
    return [(p.kind, p.label_en if english and gettext(p.label_zh) == p.label_zh
             else gettext(p.label_zh)) for p in platforms().values()]


class ConnectorForm(forms.Form):
    """`kind` is fixed by the page (one tab per kind); one field per setting of that kind.
    Secret settings are password inputs that never render a value back."""

    kind = forms.ChoiceField(widget=forms.HiddenInput, choices=platform_kind_choices)
    name = forms.CharField(label=_("名称"), max_length=100)
    fonds = forms.ChoiceField(label=_("全宗"), required=False)
    finance_owner_ids = forms.CharField(
        label=_("财务负责人（OA 用户 ID）"), required=False, max_length=1000,
        help_text=_("多个用逗号分隔；归档失败、缺少发票等问题会通知他们"))

    def __init__(self, *args, spec: list[SettingSpec], fonds_list=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = spec
        cast(forms.ChoiceField, self.fields["fonds"]).choices = [("", gettext("默认全宗"))] + [
            (f.code, str(f)) for f in fonds_list]
        for s in spec:
            # Not `required` here: the connector class checks its settings (one error message
            # naming every missing one); the browser still asks for them.
            attrs = {"required": True} if s.required else {}
            widget = (forms.PasswordInput(render_value=False, attrs={**attrs,
                                                                     "autocomplete": "off"})
                      if s.secret else forms.TextInput(attrs=attrs))
            self.fields[SETTING_PREFIX + s.name] = forms.CharField(
                label=s.name, required=False, max_length=4000, widget=widget,
                initial=None if s.secret else s.default)

    def setting_rows(self) -> list[tuple[SettingSpec, forms.BoundField]]:
        return [(s, self[SETTING_PREFIX + s.name]) for s in self.spec]

    def settings(self) -> dict[str, str]:
        """Filled-in settings only: a blank one falls back to the connector's default."""
        return {s.name: value for s in self.spec
                if (value := (self.cleaned_data.get(SETTING_PREFIX + s.name) or "").strip())}

    def owner_ids(self) -> list[str]:
        text = self.cleaned_data.get("finance_owner_ids") or ""
        return list(dict.fromkeys(u for u in _SPLIT_IDS.split(text) if u))


class MappingForm(forms.Form):
    process_code = forms.CharField(label=_("审批模板编码"), max_length=200)
    scenario = forms.ChoiceField(label=_("业务场景"))
    # A select of the retention table, validated by `mapping_create` (which also knows aliases).
    category = forms.CharField(label=_("档案类别"), max_length=100, widget=forms.Select)

    def __init__(self, *args, rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["scenario"]).choices = [(v, gettext(label)) for v, label in Scenario.choices]
        self.fields["category"].widget.choices = [("", "—")] + category_choices(rules)
        for key, label in MAPPING_FIELDS:
            self.fields[FIELD_PREFIX + key] = forms.CharField(
                label=label, required=False, max_length=200,
                widget=forms.TextInput(attrs={"placeholder": gettext("表单控件名称或 ID")}))

    def field_rows(self) -> list[tuple[str, forms.BoundField]]:
        return [(key, self[FIELD_PREFIX + key]) for key, _label in MAPPING_FIELDS]

    def mapped_fields(self) -> dict[str, str]:
        return {key: value for key, _label in MAPPING_FIELDS
                if (value := (self.cleaned_data.get(FIELD_PREFIX + key) or "").strip())}


class IntakeFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("状态"), required=False)
    connector = forms.ChoiceField(label=_("连接器"), required=False)

    def __init__(self, *args, connectors=(), **kwargs):
        super().__init__(*args, **kwargs)
        everything = ("", pgettext_lazy("filter", "全部"))
        cast(forms.ChoiceField, self.fields["status"]).choices = [everything] + [
            (v, gettext(label)) for v, label in InboxStatus.choices]
        cast(forms.ChoiceField, self.fields["connector"]).choices = [everything] + [
            (str(c.pk), f"{gettext(c.get_kind_display())} · {c.name}") for c in connectors]

    def filters(self) -> dict:
        self.is_valid()
        return {"status": self.cleaned_data.get("status") or None,
                "connector_id": self.cleaned_data.get("connector") or None}
