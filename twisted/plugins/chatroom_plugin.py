from twisted.application.service import ServiceMaker

chatroom = ServiceMaker("chatroom", "chatroom.tap", "Instant-messaging server backed by Redis", "chatroom")
