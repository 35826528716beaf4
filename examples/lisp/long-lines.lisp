;;; long-lines: a warning on every line longer than max-columns characters.
;;; Built on text-helpers: define that first.

(require 'text-helpers)

(define max-columns 100)

(define (analyze)
  (map (lambda (entry)
         (diagnostic (line-number entry) max-columns
                     (format "line is %d characters long (more than %d)"
                             (length (line-text entry)) max-columns)
                     'warning "long-line"))
       (lines-where (lambda (text) (> (length text) max-columns)))))
