;;; todo-comments: a hint on every comment that holds a TODO, FIXME or XXX marker.
;;; Built on text-helpers (comment-start finds #, //, -- and ; comments).

(require 'text-helpers)

(define markers '("TODO" "FIXME" "XXX"))

;; The first marker in the comment part of TEXT, or nil.
(define (marker-in text)
  (let ((start (comment-start text)))
    (and start
         (let ((comment (substring text start)))
           (let loop ((left markers))
             (cond ((null left) nil)
                   ((string-contains comment (car left)) (car left))
                   (t (loop (cdr left)))))))))

(define (todo-hint entry marker)
  (let ((text (line-text entry)))
    (hint (line-number entry)
          (format "%s: %s" marker (string-trim (substring text (comment-start text))))
          "todo-comment")))

(define (analyze)
  (let loop ((entries (buffer-lines)) (found nil))
    (if (null entries)
        (reverse found)
        (let ((marker (marker-in (line-text (car entries)))))
          (loop (cdr entries)
                (if marker (cons (todo-hint (car entries) marker) found) found))))))
