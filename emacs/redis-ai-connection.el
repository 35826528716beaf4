;;; redis-ai-connection.el --- EPC connection to the redis-ai daemon  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; The transport layer of redis-ai: finds the daemon through its
;; discovery file, connects over EPC, makes sure the server on the port
;; is the user's daemon, says `hello', and keeps the connection alive
;; by reconnecting with backoff when the daemon goes away.  See
;; docs/protocol.md in the repository for the wire contract: every
;; method takes one JSON string and returns one.
;;
;; The daemon listens on loopback TCP, and once it is gone any local
;; user can bind its old port.  So before anything else the plugin
;; sends a fresh nonce (`challenge'); the server must answer with an
;; HMAC of it keyed with the token of the 0600 discovery file, and only
;; then does the plugin prove itself the same way in `hello'.  The
;; token itself never crosses the wire, and a server that cannot prove
;; it knows the token gets nothing but the nonce.
;;
;; Nothing here ever waits for the daemon.  Calls are asynchronous, and
;; the bytes and calls in flight are bounded: a daemon that stops
;; reading (SIGSTOP, a hung process) would otherwise make
;; `process-send-string' block Emacs once the socket buffers fill up.
;; When the bound is reached, or a call stays unanswered for
;; `redis-ai-call-timeout' seconds, the connection is `stalled' and
;; callers keep their data until the daemon answers again.

;;; Code:

(require 'epc)
(require 'json)
(require 'subr-x)

(declare-function json-serialize "json.c" (object &rest args))
(declare-function json-parse-string "json.c" (string &rest args))
(declare-function json-insert "json.c" (object &rest args))

(defconst redis-ai-version "0.1.0"
  "Version of the redis-ai Emacs plugin.")

(defconst redis-ai-protocol-version 1
  "Version of the editor <-> daemon protocol this plugin speaks.")

;;; Customization

(defcustom redis-ai-runtime-directory nil
  "Folder holding the daemon's discovery file `daemon.json'.
When nil, use $REDIS_AI_RUNTIME_DIR, else $XDG_RUNTIME_DIR/redis-ai,
else redis-ai-UID under the variable `temporary-file-directory', as the
daemon does."
  :type '(choice (const :tag "Same as the daemon" nil) directory)
  :group 'redis-ai)

(defcustom redis-ai-reconnect-min-delay 0.1
  "Seconds to wait before the first attempt to reconnect."
  :type 'number
  :group 'redis-ai)

(defcustom redis-ai-reconnect-max-delay 5.0
  "Longest wait in seconds between two attempts to reconnect."
  :type 'number
  :group 'redis-ai)

(defcustom redis-ai-call-timeout 2.0
  "Seconds after which an unanswered call marks the daemon as stalled."
  :type 'number
  :group 'redis-ai)

(defcustom redis-ai-max-inflight 8
  "Most calls that may await an answer from the daemon at once."
  :type 'integer
  :group 'redis-ai)

(defcustom redis-ai-log-traffic nil
  "Non-nil means log every call and push in the \" *redis-ai log*\" buffer."
  :type 'boolean
  :group 'redis-ai)

(defcustom redis-ai-max-inflight-bytes (* 1024 1024)
  "Most bytes that may be sent to the daemon and not yet answered.
Keep this well under the loopback socket buffers (about 4 MB on
Linux): past them, writing to a daemon that does not read blocks Emacs."
  :type 'integer
  :group 'redis-ai)

;;; State

(defvar redis-ai--manager nil
  "The `epc:manager' of the connection to the daemon, or nil.")

(defvar redis-ai--state 'disconnected
  "State of the connection: `disconnected', `connecting', `ready' or `stalled'.")

(defvar redis-ai--generation 0
  "Number of the current connection; answers to older ones are ignored.")

(defvar redis-ai--client nil
  "Client id the daemon gave this Emacs; kept across reconnections.")

(defvar redis-ai--hello nil
  "The daemon's answer to `hello', as an alist.")

(defvar redis-ai--daemon-status nil
  "The latest `status' push, as an alist.")

(defvar redis-ai--last-error nil
  "The latest error, a string, for `redis-ai-diagnose'.")

(defvar redis-ai--refused-port nil
  "Port of the latest server that failed the handshake, told to the user once.")

(defvar redis-ai--inflight (make-hash-table :test 'eql)
  "Calls awaiting an answer: call number -> (START-TIME . BYTES).")

(defvar redis-ai--inflight-bytes 0
  "Sum of the bytes of the calls in `redis-ai--inflight'.")

(defvar redis-ai--call-counter 0
  "Number of the last call made.")

(defvar redis-ai--wanted nil
  "Non-nil while something needs the connection, so it is kept up.")

(defvar redis-ai--backoff nil
  "Seconds to wait before the next attempt to reconnect.")

(defvar redis-ai--reconnect-timer nil
  "Timer of the next attempt to reconnect.")

(defvar redis-ai--watchdog-timer nil
  "Timer that notices calls left unanswered too long.")

(defvar redis-ai-push-function #'ignore
  "Function called with each push from the daemon, an alist.")

(defvar redis-ai-push-functions nil
  "Abnormal hook run with each push from the daemon, an alist.
For the pushes of features that load on demand (`lisp_evolve').")

(defvar redis-ai-connection-state-functions nil
  "Abnormal hook run with the new state when the connection state changes.")

(defvar redis-ai-connection-settled-functions nil
  "Abnormal hook run with no arguments when in-flight calls are answered.")

(defconst redis-ai--log-buffer " *redis-ai log*"
  "Buffer that keeps the connection's recent log lines.")

;;; JSON

(defun redis-ai-json-encode (object)
  "Return OBJECT as a JSON string.
Maps are alists with symbol keys, arrays are vectors, t is true."
  (if (fboundp 'json-serialize)
      (let ((s (json-serialize object)))
        (if (multibyte-string-p s) s (decode-coding-string s 'utf-8)))
    (let ((json-encoding-pretty-print nil))
      (json-encode object))))

(defun redis-ai-json-decode (string)
  "Parse the JSON STRING into alists (symbol keys) and lists.
Return nil when STRING is not JSON.  Null and false become nil."
  (condition-case nil
      (if (fboundp 'json-parse-string)
          (json-parse-string string :object-type 'alist :array-type 'list
                             :null-object nil :false-object nil)
        (let ((json-object-type 'alist)
              (json-array-type 'list)
              (json-key-type 'symbol)
              (json-false nil)
              (json-null nil))
          (json-read-from-string string)))
    (error nil)))

;;; Log

(defun redis-ai--log (format-string &rest args)
  "Append FORMAT-STRING formatted with ARGS to the log buffer."
  (let ((line (apply #'format format-string args)))
    (with-current-buffer (get-buffer-create redis-ai--log-buffer)
      (goto-char (point-max))
      (insert (format-time-string "%T.%3N ") line "\n")
      (when (> (buffer-size) 65536)
        (delete-region (point-min) (- (point-max) 32768))))
    line))

(defun redis-ai--failure (format-string &rest args)
  "Log FORMAT-STRING with ARGS and remember it as the latest error."
  (setq redis-ai--last-error (apply #'redis-ai--log format-string args)))

;;; Discovery

(defun redis-ai-runtime-dir ()
  "Return the folder where the daemon writes its discovery file."
  (let ((env (getenv "REDIS_AI_RUNTIME_DIR"))
        (xdg (getenv "XDG_RUNTIME_DIR")))
    (cond (redis-ai-runtime-directory
           (expand-file-name redis-ai-runtime-directory))
          ((and env (not (string= env ""))) (expand-file-name env))
          ((and xdg (not (string= xdg "")))
           (expand-file-name "redis-ai" xdg))
          (t (expand-file-name (format "redis-ai-%d" (user-uid))
                               temporary-file-directory)))))

(defun redis-ai-discovery-file ()
  "Return the path of the daemon's discovery file."
  (expand-file-name "daemon.json" (redis-ai-runtime-dir)))

(defun redis-ai-read-discovery ()
  "Return the discovery file's content as an alist, or nil if absent."
  (let ((file (redis-ai-discovery-file)))
    (when (file-readable-p file)
      (redis-ai-json-decode
       (with-temp-buffer
         (insert-file-contents file)
         (buffer-string))))))

(defun redis-ai-daemon-alive-p (discovery)
  "Return non-nil if the process named by the DISCOVERY alist still exists.
A daemon that was killed leaves its file behind, naming a port that
anyone may now hold."
  (let ((pid (alist-get 'pid discovery)))
    (and (integerp pid) (process-attributes pid) t)))

;;; Handshake

(defun redis-ai-hmac-sha256 (key message)
  "Return the HMAC-SHA256 of MESSAGE keyed with KEY, in lowercase hex.
KEY and MESSAGE are strings, taken as their UTF-8 bytes (RFC 2104)."
  (let* ((key (encode-coding-string key 'utf-8 t))
         (key (if (> (length key) 64) (secure-hash 'sha256 key nil nil t) key))
         (key (concat key (make-string (- 64 (length key)) 0)))
         (pad (lambda (byte) (apply #'unibyte-string
                                    (mapcar (lambda (c) (logxor c byte)) key)))))
    (secure-hash 'sha256
                 (concat (funcall pad #x5c)
                         (secure-hash 'sha256
                                      (concat (funcall pad #x36)
                                              (encode-coding-string message 'utf-8 t))
                                      nil nil t)))))

(defun redis-ai--nonce ()
  "Return a fresh nonce: 64 hex digits that no one can predict.
Each `(random t)' seeds from the system's entropy pool, 32 bits at a
time; eight of them, hashed, make a nonce nobody can have asked the
real daemon to prove in advance."
  (secure-hash 'sha256 (format "%S" (list (float-time) (emacs-pid)
                                          (mapcar #'random (make-list 8 t))))))

(defun redis-ai--proof (token role first second)
  "Return the proof of TOKEN by ROLE over the nonces FIRST and SECOND."
  (redis-ai-hmac-sha256 token (concat role ":" first ":" second)))

;;; State changes

(defun redis-ai--set-state (state)
  "Make STATE the connection state and tell whoever listens."
  (unless (eq state redis-ai--state)
    (redis-ai--log "state %s -> %s" redis-ai--state state)
    (setq redis-ai--state state)
    (run-hook-with-args 'redis-ai-connection-state-functions state)
    (force-mode-line-update t)))

(defun redis-ai-connected-p ()
  "Return non-nil when the daemon has accepted our `hello'."
  (memq redis-ai--state '(ready stalled)))

;;; Connecting

(defun redis-ai-connection-ensure ()
  "Connect to the daemon unless connected or already trying."
  (setq redis-ai--wanted t)
  (when (and (eq redis-ai--state 'disconnected)
             (not redis-ai--reconnect-timer))
    (redis-ai--connect)))

(defun redis-ai--schedule-reconnect ()
  "Try to connect again after the current backoff, doubling it."
  (when (and redis-ai--wanted (not redis-ai--reconnect-timer))
    (let ((delay (or redis-ai--backoff redis-ai-reconnect-min-delay)))
      (setq redis-ai--backoff (min redis-ai-reconnect-max-delay (* 2 delay)))
      (setq redis-ai--reconnect-timer
            (run-with-timer delay nil #'redis-ai--reconnect-fire)))))

(defun redis-ai--reconnect-fire ()
  "Run the scheduled attempt to connect."
  (setq redis-ai--reconnect-timer nil)
  (when (and redis-ai--wanted (eq redis-ai--state 'disconnected))
    (redis-ai--connect)))

(defun redis-ai--connect ()
  "Open a connection to the daemon named by the discovery file and say hello.
On failure, schedule another attempt."
  (let* ((discovery (redis-ai-read-discovery))
         (port (alist-get 'epc_port discovery))
         (token (alist-get 'token discovery)))
    (cond
     ((not discovery)
      (redis-ai--log "no daemon: %s not found" (redis-ai-discovery-file))
      (redis-ai--schedule-reconnect))
     ((not (and (integerp port) (stringp token)))
      (redis-ai--failure "discovery file without epc_port or token")
      (redis-ai--schedule-reconnect))
     ((not (redis-ai-daemon-alive-p discovery))
      (redis-ai--log "no daemon: pid %s of %s is gone" (alist-get 'pid discovery)
                     (redis-ai-discovery-file))
      (redis-ai--schedule-reconnect))
     (t
      (condition-case err
          (redis-ai--open port token)
        (error
         (redis-ai--failure "cannot connect to port %s: %s" port
                          (error-message-string err))
         (redis-ai--drop-connection)
         (redis-ai--schedule-reconnect)))))))

(defun redis-ai--epc-connect (port)
  "Return an `epc:connection' to loopback PORT, as `epc:connect' does.
Unlike `epc:connect', a refused connection leaves no buffer behind:
the attempts repeat for as long as the daemon is away."
  (let* ((name (format "epc con %s" (epc:uid)))
         (buffer (epc:make-procbuf (format " *%s*" name)))
         (process (condition-case err
                      (open-network-stream name buffer "127.0.0.1" port)
                    (error (kill-buffer buffer)
                           (signal (car err) (cdr err))))))
    (set-process-coding-system process 'binary 'binary)
    (set-process-query-on-exit-flag process nil)
    (make-epc:connection :name name :process process :buffer buffer
                         :channel (cc:signal-channel name))))

(defun redis-ai--open (port token)
  "Connect to the EPC PORT and check that it is the daemon holding TOKEN.
Only `challenge' is sent before the server proves it; see the
Commentary."
  (let* ((connection (redis-ai--epc-connect port))
         (process (epc:connection-process connection))
         (manager (make-epc:manager :title "redis-ai" :port port
                                    :commands (list "redis-ai")
                                    :connection connection))
         (generation (setq redis-ai--generation (1+ redis-ai--generation))))
    ;; Nagle on our side plus delayed ACKs on the daemon's stall small
    ;; frames for 40 ms or more.
    (set-network-process-option process :nodelay t t)
    ;; epc's own sentinel only tears the connection down; ours must also
    ;; notice the loss and reconnect.
    (set-process-sentinel
     process (lambda (_process event)
               (when (= generation redis-ai--generation)
                 (redis-ai--log "connection lost: %s" (string-trim event))
                 (redis-ai--drop-connection)
                 (redis-ai--schedule-reconnect))))
    (epc:init-epc-layer manager)
    (epc:define-method manager 'push #'redis-ai--receive-push)
    ;; epc.el hands each incoming message to a timer (through a
    ;; concurrent.el channel); reading and dispatching in the filter
    ;; draws a push as soon as it arrives.
    (set-process-filter process (lambda (_process string)
                                  (redis-ai--filter manager connection string)))
    (setq redis-ai--manager manager)
    (redis-ai--set-state 'connecting)
    (redis-ai--log "connected to port %d" port)
    (let ((nonce (redis-ai--nonce)))
      (redis-ai--send
       'challenge `((nonce . ,nonce))
       (lambda (reply) (redis-ai--challenge-answered port token nonce reply))
       (lambda (err)
         (when (= generation redis-ai--generation)
           (redis-ai--unproven port (format "it refused the challenge: %s" err))))
       t))))

(defun redis-ai--challenge-answered (port token nonce reply)
  "Check REPLY to our NONCE from PORT with TOKEN; if proven, say `hello'."
  (let ((theirs (alist-get 'nonce reply))
        (proof (alist-get 'proof reply)))
    (if (not (and (stringp theirs)
                  (string-match-p "\\`[0-9a-f]\\{32,128\\}\\'" theirs)
                  (equal proof (redis-ai--proof token "daemon" nonce theirs))))
        (redis-ai--unproven port "its proof of the token is wrong")
      (redis-ai--log "port %d proved it holds the token" port)
      (redis-ai--send
       'hello
       `((protocol . ,redis-ai-protocol-version)
         (editor . "emacs")
         (editor_version . ,emacs-version)
         (plugin_version . ,redis-ai-version)
         (proof . ,(redis-ai--proof token "client" theirs nonce))
         ,@(and redis-ai--client `((client . ,redis-ai--client))))
       #'redis-ai--hello-answered
       (lambda (err)
         (redis-ai--failure "hello refused: %s" err)
         (redis-ai--drop-connection)
         (redis-ai--schedule-reconnect))
       t))))

(defun redis-ai--unproven (port why)
  "Hang up on PORT, whose server did not prove it is the daemon, saying WHY.
The user is told once per port; the attempts go on, since the daemon
may come back and write a new discovery file."
  (redis-ai--failure "port %d is not your daemon (%s): nothing was sent to it" port why)
  (unless (eql port redis-ai--refused-port)
    (setq redis-ai--refused-port port)
    (message "redis-ai: the server on port %d did not prove it is your daemon (%s); \
nothing was sent to it.  Is %s stale?" port why (redis-ai-discovery-file)))
  (redis-ai--drop-connection)
  (redis-ai--schedule-reconnect))

(defun redis-ai--hello-answered (reply)
  "Take the daemon's REPLY to `hello': the connection is ready."
  (setq redis-ai--refused-port nil)
  (setq redis-ai--hello reply
        redis-ai--client (or (alist-get 'client reply) redis-ai--client)
        redis-ai--backoff nil)
  (redis-ai--log "hello: client %s, daemon %s" redis-ai--client
                 (alist-get 'daemon_version reply))
  (redis-ai--set-state (if (redis-ai--overdue-p) 'stalled 'ready)))

(defun redis-ai--drop-connection ()
  "Forget the current connection and everything in flight on it."
  (let ((manager redis-ai--manager))
    (setq redis-ai--manager nil
          redis-ai--generation (1+ redis-ai--generation)
          redis-ai--inflight-bytes 0)
    (clrhash redis-ai--inflight)
    (when manager
      (condition-case err
          (epc:stop-epc manager)
        (error (redis-ai--log "closing: %s" (error-message-string err)))))
    (redis-ai--set-state 'disconnected)))

(defun redis-ai-connection-close ()
  "Say `bye' and close the connection; do not reconnect."
  (setq redis-ai--wanted nil)
  (when redis-ai--reconnect-timer
    (cancel-timer redis-ai--reconnect-timer)
    (setq redis-ai--reconnect-timer nil))
  (when (eq redis-ai--state 'ready)
    (redis-ai-call 'bye nil))
  (redis-ai--drop-connection))

(defun redis-ai-connection-restart ()
  "Close the connection and connect again at once."
  (redis-ai--drop-connection)
  (setq redis-ai--backoff nil)
  (when redis-ai--reconnect-timer
    (cancel-timer redis-ai--reconnect-timer)
    (setq redis-ai--reconnect-timer nil))
  (redis-ai-connection-ensure))

;;; Reading

(defun redis-ai--filter (manager connection string)
  "Take STRING from the daemon on CONNECTION of MANAGER; dispatch whole messages.
A message is an EPC frame: six hex digits of length, then an
S-expression.  It is read as data; the reader does not evaluate."
  (let ((buffer (epc:connection-buffer connection)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (goto-char (point-max))
        (insert string)
        (while (epc:net-have-input-p)
          (let ((message (condition-case err
                             (epc:net-read)
                           (error (redis-ai--failure "unreadable frame: %s"
                                                     (error-message-string err))
                                  (erase-buffer)
                                  nil))))
            (when (consp message)
              (condition-case err
                  (redis-ai--dispatch manager message)
                (error (redis-ai--failure "handling %s: %s" (car message)
                                          (error-message-string err)))))))))))

(defun redis-ai--dispatch (manager message)
  "Hand the EPC MESSAGE to the handler of MANAGER for its kind."
  (let ((args (cdr message)))
    (pcase (car message)
      ('call (epc:handler-called-method manager (nth 0 args) (nth 1 args) (nth 2 args)))
      ('return (epc:handler-return manager (nth 0 args) (nth 1 args)))
      ('return-error (epc:handler-return-error manager (nth 0 args) (nth 1 args)))
      ('epc-error (epc:handler-epc-error manager (nth 0 args) (nth 1 args)))
      ('methods (epc:handler-methods manager (nth 0 args)))
      (_ (redis-ai--failure "unknown EPC message %S" (car message))))))

;;; Calls

(defvar redis-ai--frame-buffer nil
  "Buffer in which outgoing EPC frames are printed.")

(defun redis-ai--frame (uid method params)
  "Print the EPC frame calling METHOD with PARAMS as JSON, call UID.
The frame goes into `redis-ai--frame-buffer', as bytes; return their
number.  epc.el builds a frame as five successive strings: every event
goes through here, and the garbage each one leaves is what makes
Emacs pause to collect it."
  (unless (buffer-live-p redis-ai--frame-buffer)
    (setq redis-ai--frame-buffer (generate-new-buffer " *redis-ai frame*"))
    (with-current-buffer redis-ai--frame-buffer
      (buffer-disable-undo)))
  (with-current-buffer redis-ai--frame-buffer
    (erase-buffer)
    (set-buffer-multibyte t)
    (insert "(call " (number-to-string uid) " " (symbol-name method) " (\"")
    (let ((start (point)))
      (if (fboundp 'json-insert)
          (json-insert params)
        (insert (redis-ai-json-encode params)))
      ;; Inside a Lisp string only " and \ need a backslash; JSON
      ;; holds no raw control characters.
      (goto-char start)
      (while (progn (skip-chars-forward "^\"\\\\") (not (eobp)))
        (insert ?\\)
        (forward-char 1)))
    (insert "\"))\n")
    ;; The bytes of a multibyte buffer are UTF-8 for Unicode text.
    (set-buffer-multibyte nil)
    (let ((bytes (buffer-size)))
      (goto-char (point-min))
      (insert (format "%06x" bytes))
      bytes)))

(defun redis-ai--call-deferred (manager uid)
  "Send the frame of call UID to MANAGER's daemon, as `epc:call-deferred' does.
Return the deferred object that the answer completes."
  (let ((deferred (deferred:new)))
    (with-current-buffer redis-ai--frame-buffer
      (process-send-region (epc:connection-process (epc:manager-connection manager))
                           (point-min) (point-max)))
    (push (cons uid deferred) (epc:manager-sessions manager))
    deferred))

(defun redis-ai--overdue-p ()
  "Return non-nil if some call has waited longer than `redis-ai-call-timeout'."
  (let ((limit (- (float-time) redis-ai-call-timeout))
        overdue)
    (maphash (lambda (_ entry) (when (< (car entry) limit) (setq overdue t)))
             redis-ai--inflight)
    overdue))

(defun redis-ai--watchdog ()
  "Mark the connection stalled if a call has gone unanswered too long.
A server that leaves the handshake unanswered is hung up on."
  (setq redis-ai--watchdog-timer nil)
  (when (and (eq redis-ai--state 'connecting) (redis-ai--overdue-p))
    (redis-ai--unproven (epc:manager-port redis-ai--manager)
                        (format "no answer in %s s" redis-ai-call-timeout)))
  (when (> (hash-table-count redis-ai--inflight) 0)
    (when (and (eq redis-ai--state 'ready) (redis-ai--overdue-p))
      (redis-ai--failure "daemon stalled: %d calls unanswered"
                       (hash-table-count redis-ai--inflight))
      (redis-ai--set-state 'stalled))
    (redis-ai--arm-watchdog)))

(defun redis-ai--arm-watchdog ()
  "Arrange to look for overdue answers after the call timeout."
  (unless redis-ai--watchdog-timer
    (setq redis-ai--watchdog-timer
          (run-with-timer redis-ai-call-timeout nil #'redis-ai--watchdog))))

(defun redis-ai--settle (generation number)
  "Forget call NUMBER of connection GENERATION, now answered."
  (when (= generation redis-ai--generation)
    (let ((entry (gethash number redis-ai--inflight)))
      (when entry
        (remhash number redis-ai--inflight)
        (setq redis-ai--inflight-bytes (- redis-ai--inflight-bytes (cdr entry)))))
    (when (and (eq redis-ai--state 'stalled) (not (redis-ai--overdue-p)))
      (redis-ai--set-state 'ready))
    (run-hooks 'redis-ai-connection-settled-functions)))

(defun redis-ai-can-send-p (&optional bytes)
  "Return non-nil if a call of BYTES bytes may be sent now."
  (and redis-ai--manager
       (eq redis-ai--state 'ready)
       (< (hash-table-count redis-ai--inflight) redis-ai-max-inflight)
       (<= (+ redis-ai--inflight-bytes (or bytes 0)) redis-ai-max-inflight-bytes)))

(defun redis-ai-call (method params &optional on-reply on-error)
  "Call the daemon's METHOD with PARAMS (an alist) without waiting.
ON-REPLY is called with the parsed reply, ON-ERROR with the error.
Return non-nil if the call was sent, nil if the connection is not
ready or too much is in flight: then the caller keeps its data."
  (redis-ai--send method params on-reply on-error nil))

(defun redis-ai--send (method params on-reply on-error handshake)
  "Send METHOD with PARAMS; see `redis-ai-call' for ON-REPLY and ON-ERROR.
HANDSHAKE non-nil sends even before the connection is ready."
  (let* ((uid (epc:uid))
         (bytes (condition-case err
                    (redis-ai--frame uid method (or params (make-hash-table)))
                  (error (redis-ai--failure "cannot encode %s: %s" method
                                            (error-message-string err))
                         nil))))
    (when (and bytes
               (if handshake
                   redis-ai--manager
                 (redis-ai-can-send-p bytes)))
      (let* ((generation redis-ai--generation)
             (number (setq redis-ai--call-counter (1+ redis-ai--call-counter)))
             (deferred (condition-case err
                           (redis-ai--call-deferred redis-ai--manager uid)
                         (error
                          (redis-ai--failure "send %s failed: %s" method
                                           (error-message-string err))
                          nil))))
        (if (not deferred)
            (progn (redis-ai--drop-connection)
                   (redis-ai--schedule-reconnect)
                   nil)
          (when redis-ai-log-traffic
            (redis-ai--log "call %s #%d, %d bytes" method number bytes))
          (puthash number (cons (float-time) bytes) redis-ai--inflight)
          (setq redis-ai--inflight-bytes (+ redis-ai--inflight-bytes bytes))
          (redis-ai--arm-watchdog)
          (deferred:error
            (deferred:nextc deferred
              (lambda (reply)
                (redis-ai--settle generation number)
                (when (and on-reply (= generation redis-ai--generation))
                  (funcall on-reply (and (stringp reply)
                                         (redis-ai-json-decode reply))))))
            (lambda (err)
              (redis-ai--settle generation number)
              (if on-error
                  (funcall on-error err)
                (redis-ai--failure "%s failed: %s" method err))))
          t)))))

;;; Pushes

(defun redis-ai--receive-push (&rest args)
  "Take a push from the daemon, whose ARGS are one JSON string.
The payload is data: it is parsed, never evaluated."
  (let ((push (and (stringp (car args)) (redis-ai-json-decode (car args)))))
    (when redis-ai-log-traffic
      (redis-ai--log "push %s %s %s tick %s"
                     (alist-get 'type push) (alist-get 'analyzer push)
                     (alist-get 'buffer push) (alist-get 'tick push)))
    (if (not (consp push))
        (redis-ai--failure "unreadable push: %S" (car args))
      (pcase (alist-get 'type push)
        ("status"
         (setq redis-ai--daemon-status push)
         (force-mode-line-update t))
        ("error"
         (redis-ai--failure "daemon error %s: %s" (alist-get 'code push)
                          (alist-get 'message push))))
      (condition-case err
          (progn (funcall redis-ai-push-function push)
                 (run-hook-with-args 'redis-ai-push-functions push))
        (error (redis-ai--failure "handling push: %s"
                                (error-message-string err))))))
  nil)

(provide 'redis-ai-connection)
;;; redis-ai-connection.el ends here
