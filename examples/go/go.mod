module example.com/relayautoconfig

go 1.19
