/* kdviz's course site without a kernel: widget panels, quizzes and the recorded lab.

   A panel (div.kdviz-live) lists its frames in data-frames: one per combination of its controls' grid values, the
   first control slowest. A frame is an image's path, or an object with src (an image), caption (text) or error (a
   message, shown as the widget shows a refused value). Each control (data-control) is a range input over grid
   indices, a checkbox or a select, so a slider always rests on a grid value; data-labels holds what it reads out.
   A quiz (form.kdviz-quiz) shows the data-feedback of the option clicked. No request leaves the page's own site: the
   frames are its files, loaded when the panel comes near the screen. */
(function () {
  "use strict";

  function position(control) {
    if (control.type === "checkbox") {
      return control.checked ? 1 : 0;
    }
    return control.type === "range" ? Number(control.value) : control.selectedIndex;
  }

  function setUpPanel(panel) {
    var frames = JSON.parse(panel.getAttribute("data-frames"));
    var controls = Array.prototype.slice.call(panel.querySelectorAll("[data-control]"));
    var image = panel.querySelector("img.kdviz-frame");
    var caption = panel.querySelector(".kdviz-caption");
    var message = panel.querySelector(".kdviz-message");

    function show() {
      var index = 0;
      controls.forEach(function (control) {
        var at = position(control);
        index = index * Number(control.getAttribute("data-size")) + at;
        var readout = control.parentNode.querySelector("output");
        if (readout) {
          readout.textContent = JSON.parse(control.getAttribute("data-labels"))[at];
        }
      });
      var frame = frames[index];
      frame = typeof frame === "string" ? { src: frame } : frame;
      if (frame.src && image) {
        image.src = frame.src;
      }
      if (caption) {
        caption.textContent = frame.caption || "";
      }
      if (message) {
        message.textContent = frame.error || "";
        message.hidden = !frame.error;
      }
      panel.setAttribute("data-shown", String(index));
    }

    function preload() {
      frames.forEach(function (frame) {
        var src = typeof frame === "string" ? frame : frame.src;
        if (src) {
          new Image().src = src;
        }
      });
    }

    controls.forEach(function (control) {
      control.addEventListener("input", show);
      control.addEventListener("change", show);
    });
    if ("IntersectionObserver" in window) {
      var watcher = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) {
          watcher.disconnect();
          preload();
        }
      }, { rootMargin: "400px" });
      watcher.observe(panel);
    } else {
      preload();
    }
    show();
  }

  function setUpQuiz(quiz) {
    var feedback = quiz.querySelector(".kdviz-feedback");
    quiz.addEventListener("change", function (event) {
      var option = event.target;
      var right = option.getAttribute("data-right") === "1";
      feedback.textContent = option.getAttribute("data-feedback");
      feedback.className = "kdviz-feedback " + (right ? "kdviz-right" : "kdviz-wrong");
    });
    quiz.addEventListener("submit", function (event) {
      event.preventDefault();
    });
  }

  function setUp() {
    Array.prototype.forEach.call(document.querySelectorAll("div.kdviz-live"), setUpPanel);
    Array.prototype.forEach.call(document.querySelectorAll("form.kdviz-quiz"), setUpQuiz);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
