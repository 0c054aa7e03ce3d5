"""`kjda oa-sim`: run the OA simulator (DingTalk, WeCom, Feishu, Weaver) on loopback and,
given a KJDA URL and an API token, show the whole loop: create one connector per platform with
its mappings through KJDA's API, then approve a reimbursement (with invoice), a contract and a
payment in each simulated platform, plus one reimbursement without its invoice, and fire the
signed callbacks. KJDA files them within seconds; the missing invoice comes back as a to-do.
"""

from __future__ import annotations

import base64
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from kjda_oasim.core import OASimulator, VendorSim
from kjda_oasim.simulators import simulators

PROCESS = {"reimbursement": "PROC-REIMB-001", "contract": "PROC-CONTRACT-001",
           "payment": "PROC-PAY-001"}
MAPPINGS = [
    {"process_code": PROCESS["reimbursement"], "scenario": "reimbursement", "category": "原始凭证",
     "fields": {"amount": "报销金额", "summary": "报销事由", "date": "发生日期",
                "invoices": "发票", "attachments": "其他附件"}},
    {"process_code": PROCESS["contract"], "scenario": "contract", "category": "原始凭证",
     "fields": {"amount": "合同金额", "summary": "合同名称", "contract": "合同扫描件",
                "related": "关联付款审批"}},
    {"process_code": PROCESS["payment"], "scenario": "payment", "category": "记账凭证",
     "fields": {"amount": "付款金额", "summary": "付款事由", "payee": "收款单位",
                "payee_account": "收款账号", "related": "关联报销单"}},
]
PEOPLE = [("zhangsan", "张三", "销售部"), ("wangfang", "王芳", "采购部"), ("liwei", "李伟", "研发中心")]


def build_simulator(host: str = "127.0.0.1", port: int = 0) -> OASimulator:
    sim = OASimulator([cls() for cls in simulators().values()])
    sim.start(host, port)
    for vendor in sim.vendors.values():  # the demo people can log in (SSO) and be synced
        if hasattr(vendor, "directory_add"):
            for n, (uid, name, dept) in enumerate(PEOPLE):
                vendor.directory_add(uid, name=name, department=dept,
                                     mobile=f"1380000{n:04d}", email=f"{uid}@demo.example")
    return sim


def _pdf(lines: list[str]) -> str:
    from kjda_oasim.factories import pdf_bytes

    return base64.b64encode(pdf_bytes(lines)).decode()


def _invoice(number: str, amount: Decimal, day: date) -> str:
    from kjda_oasim.factories import invoice_pdf

    return base64.b64encode(invoice_pdf(number=number, seller="上海某某酒店有限公司",
                                        amount=amount, day=day)).decode()


def _trail(approver: tuple[str, str], originator: tuple[str, str], day: date) -> list[dict]:
    return [{"actor": {"id": originator[0], "name": originator[1]}, "action": "发起",
             "result": "none", "time": f"{day.isoformat()}T09:00:00+08:00"},
            {"actor": {"id": approver[0], "name": approver[1]}, "action": "审批",
             "result": "agree", "time": f"{day.isoformat()}T17:30:00+08:00", "remark": "同意"}]


def specs(vendor: str, n: int) -> dict[str, dict[str, Any]]:
    who = PEOPLE[n % len(PEOPLE)]
    day = date.today() - timedelta(days=3 + n)
    amount = Decimal("1280.50") + n * 100
    originator = {"id": who[0], "name": who[1], "department": who[2]}
    trail = _trail(("finance01", "赵会计"), who[:2], day)
    reimbursement = {
        "process_code": PROCESS["reimbursement"], "title": f"差旅费报销-{who[1]}（{vendor}）",
        "originator": originator, "trail": trail,
        "form": [{"name": "报销事由", "value": "上海出差，拜访客户"},
                 {"name": "报销金额", "kind": "money", "value": str(amount)},
                 {"name": "发生日期", "kind": "date", "value": day.isoformat()},
                 {"name": "明细", "kind": "table", "rows": [
                     [{"name": "项目", "value": "住宿"}, {"name": "金额", "kind": "money",
                                                       "value": str(amount - 200)}],
                     [{"name": "项目", "value": "交通"}, {"name": "金额", "kind": "money",
                                                       "value": "200.00"}]]},
                 {"name": "发票", "kind": "attachment", "files": [
                     {"name": "住宿发票.pdf",
                      "content_b64": _invoice(f"2431{n:016d}", amount - 200, day)}]}]}
    missing = {**reimbursement, "title": f"办公用品报销-{who[1]}（缺发票，{vendor}）",
               "form": [f for f in reimbursement["form"] if f["name"] != "发票"]
               + [{"name": "发票", "kind": "attachment", "files": []}]}
    contract = {
        "process_code": PROCESS["contract"], "title": f"采购合同审批-服务器采购（{vendor}）",
        "originator": originator, "trail": trail,
        "form": [{"name": "合同名称", "value": "服务器及配套设备采购合同"},
                 {"name": "合同金额", "kind": "money", "value": "86000.00"},
                 {"name": "合同扫描件", "kind": "attachment", "files": [
                     {"name": "采购合同扫描件.pdf",
                      "content_b64": _pdf(["设备采购合同", "甲方：示例单位", "合同金额：86000.00"])}]}]}
    payment = {
        "process_code": PROCESS["payment"], "title": f"付款申请-差旅费（{vendor}）",
        "originator": originator, "trail": trail,
        "form": [{"name": "付款事由", "value": f"支付{who[1]}差旅费报销款"},
                 {"name": "付款金额", "kind": "money", "value": str(amount)},
                 {"name": "收款单位", "value": who[1]},
                 {"name": "收款账号", "value": "6222 0000 0000 0000 000"},
                 {"name": "关联报销单", "value": ""}]}
    return {"reimbursement": reimbursement, "missing_invoice": missing, "contract": contract,
            "payment": payment}


class DemoLoop:
    def __init__(self, sim: OASimulator, kjda_url: str, token: str) -> None:
        self.sim = sim
        self.kjda = httpx.Client(base_url=kjda_url.rstrip("/"), timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
        self.callbacks: dict[str, str] = {}

    def wait_for_kjda(self, seconds: float = 120) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if self.kjda.get("/api/v1/retention-rules").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("KJDA did not come up")

    def configure(self, finance_owner: str = "finance01") -> None:
        for name, vendor in self.sim.vendors.items():
            resp = self.kjda.post("/api/v1/connectors", json={
                "kind": name, "name": f"{vendor.__class__.__name__}（模拟）",
                "settings": vendor.connector_settings(), "finance_owner_ids": [finance_owner]})
            resp.raise_for_status()
            connector = resp.json()
            self.callbacks[name] = str(self.kjda.base_url).rstrip("/") + connector["callback_url"]
            for mapping in MAPPINGS:
                self.kjda.post(f"/api/v1/connectors/{connector['id']}/mappings",
                               json=mapping).raise_for_status()

    def approve(self, vendor: VendorSim, spec: dict[str, Any]) -> tuple[str, dict]:
        instance_id = vendor.create_instance(spec)
        return instance_id, vendor.fire(callback_url=self.callbacks[vendor.name],
                                        instance_id=instance_id)

    def run(self, *, rounds: int = 1, log=print) -> None:
        for n in range(rounds):
            for name, vendor in self.sim.vendors.items():
                s = specs(name, n)
                reimb_id, result = self.approve(vendor, s["reimbursement"])
                log(f"[{name}] 报销审批通过 {reimb_id} → KJDA {result.get('status')}")
                s["payment"]["form"][-1]["value"] = reimb_id
                pay_id, result = self.approve(vendor, s["payment"])
                log(f"[{name}] 付款完成 {pay_id}（关联 {reimb_id}） → KJDA {result.get('status')}")
                contract = dict(s["contract"])
                contract["form"] = [*contract["form"], {"name": "关联付款审批", "value": pay_id}]
                con_id, result = self.approve(vendor, contract)
                log(f"[{name}] 合同签署完成 {con_id} → KJDA {result.get('status')}")
                miss_id, result = self.approve(vendor, s["missing_invoice"])
                log(f"[{name}] 缺发票的报销 {miss_id} → KJDA {result.get('status')}（将发待办）")
