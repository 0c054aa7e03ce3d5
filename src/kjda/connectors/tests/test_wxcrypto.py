"""WXBizMsgCrypt against every vector of oa-protocols.md §1.2 and §2.2, positive and negative."""

from __future__ import annotations

import pytest

from kjda.connectors.base import CallbackRejected
from kjda.connectors.wxcrypto import WXBizMsgCrypt

D1 = dict(token="mryue", encoding_aes_key="Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
          owner_id="ding6ccabc44d2c8d38b")
D1_CALL = ("03044561471240d4a14bb09372dfcfd4fd0e40cb", "1608001896814", "WL4PK6yA",
           "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3")
D2 = dict(token="tokenxxxx", encoding_aes_key="o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus",
          owner_id="dingxxxxxx")
D2_CALL = ("f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc", "1605695694141", "WelUQl6bCqcBa2fM",
           "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ==")
D3 = dict(token="123456", encoding_aes_key="4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
          owner_id="suite4xxxxxxxxxxxxxxx")
D3_MSG = b'{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}'
D3_ENCRYPT = "5DJFWzjRNOQk+5GSZxW+VrFMDWCIidPjEjg3//gm5x556BedVi62rDj1F9uXU97a4jw1R4FACUv9RCpoDobNqxhxRB2YtW901k4KHbP1/wpFJ3xdLG0n0A8U1VhENg80zKJd+YROR0YMGum4WYuoXJ6J98vt0ihYeIFoapNddLML5MyNAGM9saSpkouDMSvD+iU14i7V8ix1ia1Tb9ogog=="
D3_DECRYPT = ("5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0", "1445827045067", "nEXhMP4r",
              "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==")
W1 = dict(token="QDG6eK", encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
          owner_id="wx5823bf96d3bd56c7")
W1_ECHO = ("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780",
           "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
W1_MSG = ("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149",
          "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
W3 = dict(token="123456", encoding_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
          owner_id="wx49f0ab532d5d035a")
W3_MSG = b"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
W3_ENCRYPT = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
W3_ECHO = ("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425",
           "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==")


def test_d1_dingtalk_check_url_decrypts():
    assert WXBizMsgCrypt(**D1).verify_and_decrypt(*D1_CALL) == b'{"EventType":"check_url"}'


def test_d2_encrypted_success_reply_decrypts():
    assert WXBizMsgCrypt(**D2).verify_and_decrypt(*D2_CALL) == b"success"


def test_d3_deterministic_encryption_matches():
    crypt = WXBizMsgCrypt(**D3)
    encrypt, sig = crypt.encrypt_and_sign(D3_MSG, timestamp="1445827045067", nonce="nEXhMP4r",
                                          random16=b"1234567890123456")
    assert encrypt == D3_ENCRYPT
    assert sig == "bcf6dcefa4ce2dbaf7b0666c7264d46fd9aad4bd"
    assert crypt.verify_and_decrypt(*D3_DECRYPT) == D3_MSG


def test_d3_wrong_nonce_is_rejected():
    sig, ts, _nonce, enc = D3_DECRYPT
    with pytest.raises(CallbackRejected) as err:
        WXBizMsgCrypt(**D3).verify_and_decrypt(sig, ts, "xxxxx", enc)
    assert err.value.code == "bad_signature"


def test_w1_url_verification_and_message():
    crypt = WXBizMsgCrypt(**W1)
    assert crypt.verify_and_decrypt(*W1_ECHO) == b"1616140317555161061"
    msg = crypt.verify_and_decrypt(*W1_MSG)
    assert msg.startswith(b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]>")
    assert b"<Content><![CDATA[hello]]></Content>" in msg


def test_w3_deterministic_encryption_and_echostr():
    crypt = WXBizMsgCrypt(**W3)
    encrypt, sig = crypt.encrypt_and_sign(W3_MSG, timestamp="1411525903", nonce="461056294",
                                          random16=b"1234567890123456")
    assert encrypt == W3_ENCRYPT and sig == "407518b7649e86ef23978113f92d27afa9296533"
    assert crypt.verify_and_decrypt(*W3_ECHO) == b"5927782489442352469"
    sig, ts, _nonce, echo = W3_ECHO
    with pytest.raises(CallbackRejected):
        crypt.verify_and_decrypt(sig, ts, "437374424", echo)


def test_wrong_owner_id_is_rejected():
    with pytest.raises(CallbackRejected) as err:
        WXBizMsgCrypt(**{**D1, "owner_id": "dingsomeoneelse"}).verify_and_decrypt(*D1_CALL)
    assert err.value.code == "wrong_owner" and err.value.status == 403


def test_tampered_ciphertext_fails_signature_and_bad_padding_is_caught():
    crypt = WXBizMsgCrypt(**D2)
    sig, ts, nonce, enc = D2_CALL
    tampered = ("Y" if enc[0] != "Y" else "Z") + enc[1:]
    with pytest.raises(CallbackRejected):
        crypt.verify_and_decrypt(sig, ts, nonce, tampered)
    # Signed correctly but decrypting to a bad pad byte (ciphertext from another key).
    other = WXBizMsgCrypt(**D3).encrypt(b"hello")
    from kjda.connectors.wxcrypto import signature

    with pytest.raises(CallbackRejected) as err:
        crypt.verify_and_decrypt(signature(D2["token"], ts, nonce, other), ts, nonce, other)
    assert err.value.code in {"bad_padding", "bad_plaintext", "wrong_owner"}


def test_chinese_payload_round_trips_byte_exact():
    crypt = WXBizMsgCrypt(**D1)
    msg = '{"EventType":"bpms_instance_change","title":"报销差旅费（上海出差）"}'.encode()
    enc, sig = crypt.encrypt_and_sign(msg, timestamp="1700000000000", nonce="abc")
    assert crypt.verify_and_decrypt(sig, "1700000000000", "abc", enc) == msg


def test_base64_with_newlines_from_the_python_sample_is_accepted():
    crypt = WXBizMsgCrypt(**D1)
    enc = crypt.encrypt(b'{"EventType":"check_url"}')
    wrapped = "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\n"
    from kjda.connectors.wxcrypto import signature

    sig = signature(D1["token"], "1608001896", "n1", wrapped)  # signed with the newlines
    assert crypt.verify_and_decrypt(sig, "1608001896", "n1", wrapped) == b'{"EventType":"check_url"}'
