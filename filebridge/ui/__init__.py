"""The local web page: sessions, plots, webviews, data views, help and the request log.

    from filebridge.ui.server import UIServer
    ui = UIServer(host, store, port=0)   # 127.0.0.1 only, random token
    ui.start(); print(ui.url)
"""
